"""Runner and Poller against the in-memory FakeExecutor and a real SQLite store."""

from __future__ import annotations

import json
import threading
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from pitmaster.errors import ExecutorError
from pitmaster.executors.base import ExitEvent, Observation, RunSpec, Started
from pitmaster.models import DEFAULT_QUEUE, AttemptState, Execution, MarkResult, Outcome, Status
from pitmaster.store.store import Store
from pitmaster.testing import FakeExecutor
from pitmaster.worker.poller import Poller, Settled
from pitmaster.worker.runner import MESSAGE_FILE, Runner, run_spec

if TYPE_CHECKING:
    from tests.conftest import ManualClock

LEASE = 30.0
LOG_LIMIT = 64 * 1024
IMAGE = "shop:1.2"
COMMAND = ["bundle", "exec", "rake", "mail:send"]


@pytest.fixture
def executor() -> FakeExecutor:
    return FakeExecutor(engine="engine-a")


def _define(store: Store) -> None:
    store.create_app("shop", IMAGE)
    store.create_job_definition("shop", "mail", COMMAND)
    store.create_queue("mailers")


def _runner(store: Store, executor: FakeExecutor, worker_id: str = "worker-a") -> Runner:
    return Runner(store, executor, worker_id, LEASE)


def _started(store: Store, executor: FakeExecutor, message: object = None) -> tuple[Execution, str]:
    """Given an execution that a runner has started: the execution and its container name."""
    _define(store)
    execution = store.enqueue("shop", "mail", "mailers", message)
    assert _runner(store, executor).run_once() is True
    (attempt,) = store.attempts_of(execution.id)
    return execution, _name(store, attempt.id)


def _name(store: Store, attempt_id: int) -> str:
    """The container name an attempt must get: ``pitmaster-<installation>-<attempt id>``."""
    installation = store.installation_id()
    assert installation
    return f"pitmaster-{installation}-{attempt_id}"


# -- runner ----------------------------------------------------------------------------


def test_given_a_pending_execution_when_run_then_container_gets_image_command_env_labels(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    _define(clocked_store)
    message = {"to": "ä@example.com", "items": [1, 2], "note": "--privileged; rm -rf /"}
    execution = clocked_store.enqueue("shop", "mail", "mailers", message)

    assert _runner(clocked_store, executor).run_once() is True

    (attempt,) = clocked_store.attempts_of(execution.id)
    name = _name(clocked_store, attempt.id)
    assert list(executor.containers) == [name]
    spec = executor.containers[name].spec
    assert spec.name == name
    assert spec.image == IMAGE
    assert spec.command == tuple(COMMAND)  # the message never reaches argv
    env = spec.environment
    assert env["BARBEQUE_JOB"] == "mail"
    assert json.loads(env["BARBEQUE_MESSAGE"]) == message
    assert env["BARBEQUE_MESSAGE_ID"] == execution.message_id
    assert env["BARBEQUE_QUEUE_NAME"] == "mailers"
    assert env["BARBEQUE_RETRY_COUNT"] == "0"
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    sent_ms = (clock.now - epoch) // timedelta(milliseconds=1)
    assert env["BARBEQUE_SENT_TIMESTAMP"] == str(sent_ms)
    assert env["BARBEQUE_SENT_TIMESTAMP"] == "1772366400250"
    assert spec.files == {}  # a message that fits travels in the environment alone
    assert MESSAGE_FILE not in env.values()
    assert spec.labels == {
        "pitmaster.installation": clocked_store.installation_id(),
        "pitmaster.attempt": str(attempt.id),
        "pitmaster.execution": execution.message_id,
        "pitmaster.app": "shop",
        "pitmaster.job": "mail",
        "pitmaster.queue": "mailers",
    }


def test_given_a_started_container_then_execution_is_running_with_backend_times(
    store: Store, executor: FakeExecutor
) -> None:
    execution, name = _started(store, executor)

    container = executor.containers[name]
    (attempt,) = store.attempts_of(execution.id)
    assert attempt.state is AttemptState.RUNNING
    assert (attempt.container_id, attempt.engine_id) == (container.handle, "engine-a")
    # While it runs, the start is the moment the engine acknowledged it...
    assert attempt.started_at is not None
    assert attempt.started_at >= container.started_at
    assert store.get_execution(execution.message_id).status is Status.RUNNING

    # ...and once it ends, Docker's own StartedAt replaces it (invariant 6).
    backend_start = container.started_at - timedelta(milliseconds=7)
    container.started_at = backend_start
    executor.finish(name, 0)
    assert Poller(store, executor, LOG_LIMIT).sweep() == 1
    (attempt,) = store.attempts_of(execution.id)
    assert attempt.started_at == backend_start
    assert attempt.finished_at == container.finished_at
    assert store.get_execution(execution.message_id).started_at == backend_start


def test_given_nothing_pending_when_run_then_false_and_no_container(
    store: Store, executor: FakeExecutor
) -> None:
    _define(store)

    assert _runner(store, executor).run_once() is False

    assert executor.calls.start == 0
    assert executor.containers == {}


def test_given_a_missing_image_when_run_then_error_naming_the_image(
    store: Store, executor: FakeExecutor
) -> None:
    _define(store)
    executor.missing_images.add(IMAGE)
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {})

    assert _runner(store, executor).run_once() is True

    fetched = store.get_execution(execution.message_id)
    assert fetched.status is Status.ERROR
    assert fetched.reason is not None
    assert IMAGE in fetched.reason
    (attempt,) = store.attempts_of(execution.id)
    assert (attempt.state, attempt.status) == (AttemptState.ENDED, Status.ERROR)
    assert executor.calls.created == 0
    assert executor.containers == {}
    assert store.claim("other", LEASE) is None  # an error is final, not re-queued


def test_given_a_deleted_job_definition_when_run_then_error_and_no_container(
    store: Store, executor: FakeExecutor
) -> None:
    _define(store)
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    store.delete_job_definition("shop", "mail")

    assert _runner(store, executor).run_once() is True

    fetched = store.get_execution(execution.message_id)
    assert fetched.status is Status.ERROR
    assert "shop/mail no longer exists" in (fetched.reason or "")
    assert executor.calls.start == 0


def test_given_an_unreachable_engine_when_run_then_raises_and_execution_stays_pending(
    store: Store, executor: FakeExecutor
) -> None:
    _define(store)
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    executor.unreachable = True

    with pytest.raises(ExecutorError):
        _runner(store, executor).run_once()

    assert store.get_execution(execution.message_id).status is Status.PENDING
    executor.unreachable = False
    assert _runner(store, executor, "worker-b").run_once() is True
    assert store.get_execution(execution.message_id).status is Status.RUNNING
    assert executor.calls.created == 1


def test_given_the_engine_fails_during_start_when_run_then_claim_released_same_attempt(
    store: Store, executor: FakeExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    _define(store)
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {})

    def refuse(spec: RunSpec) -> Started:
        raise ExecutorError("connection refused")

    monkeypatch.setattr(executor, "start", refuse)
    with pytest.raises(ExecutorError, match="connection refused"):
        _runner(store, executor).run_once()
    monkeypatch.undo()

    assert store.get_execution(execution.message_id).status is Status.PENDING
    (starting,) = store.attempts_of(execution.id)
    # Re-claimable at once (not only after the lease), and with the same attempt.
    assert _runner(store, executor, "worker-b").run_once() is True
    (attempt,) = store.attempts_of(execution.id)
    assert attempt.id == starting.id
    assert list(executor.containers) == [_name(store, starting.id)]
    assert store.get_execution(execution.message_id).status is Status.RUNNING


# -- poller ----------------------------------------------------------------------------


def test_given_a_container_that_exited_0_when_swept_then_success_with_output(
    store: Store, executor: FakeExecutor
) -> None:
    execution, name = _started(store, executor)
    executor.finish(name, 0, stdout="sent 3 mails\n", stderr="warning: slow smtp\n")
    finished_at = executor.containers[name].finished_at

    recorded = Poller(store, executor, LOG_LIMIT).sweep()

    assert recorded == 1
    fetched = store.get_execution(execution.message_id)
    assert (fetched.status, fetched.exit_code, fetched.reason) == (Status.SUCCESS, 0, "exited 0")
    assert fetched.finished_at == finished_at
    (attempt,) = store.attempts_of(execution.id)
    assert (attempt.stdout, attempt.stderr) == ("sent 3 mails\n", "warning: slow smtp\n")
    assert attempt.state is AttemptState.ENDED
    assert name not in executor.containers
    assert (executor.calls.logs, executor.calls.remove) == (1, 1)


def test_given_a_container_that_exited_nonzero_when_swept_then_failed_with_code(
    store: Store, executor: FakeExecutor
) -> None:
    execution, name = _started(store, executor)
    executor.finish(name, 3, stdout="", stderr="boom\n")

    assert Poller(store, executor, LOG_LIMIT).sweep() == 1

    fetched = store.get_execution(execution.message_id)
    assert (fetched.status, fetched.exit_code, fetched.reason) == (Status.FAILED, 3, "exited 3")
    (attempt,) = store.attempts_of(execution.id)
    assert (attempt.stdout, attempt.stderr, attempt.exit_code) == ("", "boom\n", 3)


def test_given_an_oom_killed_container_when_swept_then_failed_oom(
    store: Store, executor: FakeExecutor
) -> None:
    execution, name = _started(store, executor)
    executor.finish(name, 137, oom=True)

    assert Poller(store, executor, LOG_LIMIT).sweep() == 1

    fetched = store.get_execution(execution.message_id)
    assert (fetched.status, fetched.reason, fetched.exit_code) == (Status.FAILED, "oom", 137)


def test_given_a_still_running_container_when_swept_then_nothing_changes(
    store: Store, executor: FakeExecutor
) -> None:
    execution, name = _started(store, executor)

    assert Poller(store, executor, LOG_LIMIT).sweep() == 0

    assert store.get_execution(execution.message_id).status is Status.RUNNING
    assert name in executor.containers
    assert (executor.calls.logs, executor.calls.remove) == (0, 0)


def test_given_a_container_removed_from_outside_when_swept_then_error_lost(
    store: Store, executor: FakeExecutor
) -> None:
    execution, name = _started(store, executor)
    del executor.containers[name]  # `docker rm -f` behind pitmaster's back

    assert Poller(store, executor, LOG_LIMIT).sweep() == 1

    fetched = store.get_execution(execution.message_id)
    assert (fetched.status, fetched.reason, fetched.exit_code) == (Status.ERROR, "lost", None)
    assert executor.calls.logs == 0


def test_given_long_output_when_swept_then_logs_capped_at_the_limit(
    store: Store, executor: FakeExecutor
) -> None:
    execution, name = _started(store, executor)
    executor.finish(name, 0, stdout="a" * 5000 + "TAIL", stderr="e" * 10)

    assert Poller(store, executor, 1024).sweep() == 1

    (attempt,) = store.attempts_of(execution.id)
    assert attempt.stdout is not None
    assert len(attempt.stdout) == 1024
    assert attempt.stdout.endswith("TAIL")
    assert attempt.stderr == "e" * 10


def test_given_two_pollers_when_they_sweep_in_turn_then_recorded_once(
    store: Store, executor: FakeExecutor
) -> None:
    execution, name = _started(store, executor)
    executor.finish(name, 0, stdout="once")

    first = Poller(store, executor, LOG_LIMIT).sweep()
    second = Poller(store, executor, LOG_LIMIT).sweep()

    assert (first, second) == (1, 0)
    assert (executor.calls.logs, executor.calls.remove) == (1, 1)
    (attempt,) = store.attempts_of(execution.id)
    assert attempt.stdout == "once"


def _racing_pollers(
    store: Store, executor: FakeExecutor, monkeypatch: pytest.MonkeyPatch, count: int
) -> tuple[list[Execution], list[int]]:
    """Given ``count`` exited containers, two pollers that both list them before either records.

    Both pollers wait for each other inside ``observe``, so both hold the same
    running attempts when they go on to record them: the race invariant 3 is about.
    """
    _define(store)
    executions = [store.enqueue("shop", "mail", DEFAULT_QUEUE, n) for n in range(count)]
    runner = _runner(store, executor)
    for _ in executions:
        assert runner.run_once() is True
    for name in list(executor.containers):
        executor.finish(name, 0, stdout=f"out of {name}", stderr=f"err of {name}")

    barrier = threading.Barrier(2)
    real_observe = executor.observe

    def observe_together(handles: Collection[str]) -> dict[str, Observation]:
        barrier.wait(timeout=10)
        return real_observe(handles)

    monkeypatch.setattr(executor, "observe", observe_together)
    results: list[int] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            results.append(Poller(store, executor, LOG_LIMIT).sweep())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return executions, results


def test_given_two_pollers_racing_when_both_see_the_exits_then_each_recorded_once(
    store: Store, executor: FakeExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    executions, results = _racing_pollers(store, executor, monkeypatch, count=5)

    assert sum(results) == 5
    assert executor.calls.remove == 5  # only the winner of each attempt removes it
    assert executor.containers == {}
    for execution in executions:
        (attempt,) = store.attempts_of(execution.id)
        assert store.get_execution(execution.message_id).status is Status.SUCCESS
        assert attempt.stdout == f"out of {_name(store, attempt.id)}"
        assert attempt.stderr == f"err of {_name(store, attempt.id)}"


# -- a worker that dies -------------------------------------------------------------


def test_given_a_worker_died_after_claiming_when_lease_expires_then_another_starts_it(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    _define(clocked_store)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    dead = clocked_store.claim("dead-worker", LEASE)  # claimed, then the worker vanished
    assert dead is not None
    rescuer = _runner(clocked_store, executor, "rescuer")

    assert rescuer.run_once() is False  # the lease still holds
    clock.advance(LEASE + 1)
    assert rescuer.run_once() is True

    assert list(executor.containers) == [dead.container_name]
    assert dead.container_name == _name(clocked_store, dead.attempt_id)
    assert executor.calls.created == 1
    (attempt,) = clocked_store.attempts_of(execution.id)
    assert (attempt.id, attempt.state) == (dead.attempt_id, AttemptState.RUNNING)
    assert clocked_store.get_execution(execution.message_id).status is Status.RUNNING


def test_given_a_worker_died_after_creating_the_container_when_recovered_then_adopted(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    _define(clocked_store)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, {"n": 1})
    dead = clocked_store.claim("dead-worker", LEASE)
    assert dead is not None
    assert dead.docker_image is not None
    assert dead.command is not None
    orphan = executor.start(run_spec(dead, dead.docker_image, dead.command))
    # ... and the worker died before it could store the container id.

    clock.advance(LEASE + 1)
    assert _runner(clocked_store, executor, "rescuer").run_once() is True

    assert executor.calls.created == 1
    assert executor.calls.start == 2
    assert list(executor.containers) == [dead.container_name]
    (attempt,) = clocked_store.attempts_of(execution.id)
    assert attempt.id == dead.attempt_id
    assert attempt.container_id == orphan.handle
    # Adopting reads the container's own start time back from the engine.
    assert attempt.started_at == executor.containers[dead.container_name].started_at

    executor.finish(dead.container_name, 0, stdout="done")
    assert Poller(clocked_store, executor, LOG_LIMIT).sweep() == 1
    assert clocked_store.get_execution(execution.message_id).status is Status.SUCCESS


def test_given_two_workers_that_both_started_one_attempt_then_one_container_one_record(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    _define(clocked_store)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    slow = clocked_store.claim("slow-worker", LEASE)
    assert slow is not None
    assert slow.docker_image is not None
    assert slow.command is not None
    clock.advance(LEASE + 1)
    assert _runner(clocked_store, executor, "rescuer").run_once() is True

    # The slow worker wakes up, starts "its" container and tries to store it.
    late = executor.start(run_spec(slow, slow.docker_image, slow.command))
    assert (
        clocked_store.mark_running(slow.attempt_id, late.handle, "engine-a", clock.now)
        is MarkResult.ALREADY_RUNNING
    )

    assert executor.calls.created == 1
    (attempt,) = clocked_store.attempts_of(execution.id)
    assert attempt.worker_id == "rescuer"


def test_given_a_just_ended_container_then_a_sweep_leaves_it_to_its_exit_event_for_a_while(
    store: Store, executor: FakeExecutor
) -> None:
    execution, name = _started(store, executor)
    executor.finish(name, 0)
    finished = executor.containers[name].finished_at
    assert finished is not None
    now = [finished + timedelta(seconds=0.5)]
    poller = Poller(store, executor, LOG_LIMIT, clock=lambda: now[0], leave_fresh_exits=1.0)

    assert poller.sweep() == 0  # the watcher, holding its event, records it
    assert store.get_execution(execution.message_id).status is Status.RUNNING

    now[0] = finished + timedelta(seconds=1.5)  # the event must have been dropped
    assert poller.sweep() == 1
    assert store.get_execution(execution.message_id).status is Status.SUCCESS


def test_given_a_container_that_exits_while_a_sweep_lists_it_then_it_is_left_to_its_exit_event(
    store: Store, executor: FakeExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    execution, name = _started(store, executor)
    now = [datetime.now(UTC)]
    poller = Poller(store, executor, LOG_LIMIT, clock=lambda: now[0], leave_fresh_exits=1.0)
    listing = executor.observe

    def exits_as_listed(handles: Collection[str]) -> dict[str, Observation]:
        # The container exits after the sweep began, just before the engine lists it.
        executor.finish(name, 0)
        finished = executor.containers[name].finished_at
        assert finished is not None
        now[0] = finished + timedelta(seconds=0.01)
        return listing(handles)

    monkeypatch.setattr(executor, "observe", exits_as_listed)

    # Its exit is younger than the sweep's start: not a clock running ahead, a fresh exit.
    assert poller.sweep() == 0
    assert store.get_execution(execution.message_id).status is Status.RUNNING


def test_given_an_exit_event_then_the_ending_is_recorded_before_the_engine_is_asked_anything(
    store: Store, executor: FakeExecutor
) -> None:
    execution, name = _started(store, executor)
    container = executor.containers[name]
    executor.finish(name, 0, stdout="sent\n")
    event_time = datetime.now(UTC)
    event = ExitEvent(container.handle, exit_code=0, at=event_time)
    poller = Poller(store, executor, LOG_LIMIT)
    (running,) = store.running_attempts("engine-a")

    assert poller.settle(running, event) is Settled.OUTPUT_PENDING

    recorded = store.get_execution(execution.message_id)
    assert (recorded.status, recorded.output_pending) == (Status.SUCCESS, True)
    assert recorded.finished_at == event_time
    assert executor.calls.observe_one + executor.calls.logs == 0  # the engine was not asked

    poller.collect_output(running.attempt_id, running.container_id)

    # Then its output and Docker's own times were stored, and the container removed.
    (attempt,) = store.attempts_of(execution.id)
    assert (attempt.stdout, attempt.output_pending) == ("sent\n", False)
    assert (attempt.started_at, attempt.finished_at) == (
        container.started_at,
        container.finished_at,
    )
    assert attempt.output_recorded_at is not None
    assert attempt.recorded_at is not None
    assert attempt.output_recorded_at >= attempt.recorded_at
    assert store.get_execution(execution.message_id).output_pending is False
    assert name not in executor.containers


def test_given_an_oom_exit_event_then_the_attempt_failed_for_oom(
    store: Store, executor: FakeExecutor
) -> None:
    execution, name = _started(store, executor)
    handle = executor.containers[name].handle
    (running,) = store.running_attempts("engine-a")

    event = ExitEvent(handle, exit_code=137, at=datetime.now(UTC), oom_killed=True)
    assert Poller(store, executor, LOG_LIMIT).settle(running, event) is Settled.OUTPUT_PENDING

    ended = store.get_execution(execution.message_id)
    assert (ended.status, ended.reason, ended.exit_code) == (Status.FAILED, "oom", 137)


def test_given_a_worker_died_between_the_ending_and_its_output_then_a_sweep_reads_the_output(
    store: Store, executor: FakeExecutor
) -> None:
    execution, name = _started(store, executor)
    executor.finish(name, 3, stderr="broken\n")
    docker_finished = executor.containers[name].finished_at
    (attempt,) = store.attempts_of(execution.id)
    # The dead worker stored the ending from the event, and nothing more.
    event_time = datetime.now(UTC) + timedelta(milliseconds=40)
    outcome = Outcome(Status.FAILED, "exited 3", 3, finished_at=event_time)
    assert store.record_outcome(attempt.id, outcome, output_pending=True)

    assert Poller(store, executor, LOG_LIMIT).sweep() == 0  # nothing left running

    (attempt,) = store.attempts_of(execution.id)
    assert (attempt.stderr, attempt.output_pending) == ("broken\n", False)
    assert attempt.finished_at == docker_finished  # Docker's State.FinishedAt replaces it
    assert name not in executor.containers
    assert store.get_execution(execution.message_id).status is Status.FAILED


def test_given_a_sigkill_exit_event_then_the_engine_is_asked_before_recording(
    store: Store, executor: FakeExecutor
) -> None:
    # docker rm -f kills before it removes: the event alone cannot tell it from a kill.
    execution, name = _started(store, executor)
    handle = executor.containers[name].handle
    (running,) = store.running_attempts("engine-a")
    executor.remove(name)

    event = ExitEvent(handle, exit_code=137, at=datetime.now(UTC))
    poller = Poller(store, executor, LOG_LIMIT)
    # The event thread only learns that the engine must be asked; asking waits on the engine.
    assert poller.settle(running, event) is Settled.ASK_ENGINE
    assert executor.calls.observe_one == 0
    assert poller.settle_by_asking(running) is Settled.RECORDED

    ended = store.get_execution(execution.message_id)
    assert (ended.status, ended.reason, ended.output_pending) == (Status.ERROR, "lost", False)
    assert executor.calls.observe_one == 1
