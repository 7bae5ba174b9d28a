"""Job policies on the store, Runner and Poller with the FakeExecutor, on both databases.

Retries (automatic, by hand, in bulk), timeouts, cancellation and idempotent
enqueue. Time is a ManualClock shared by the store and the poller, so every
delay and grace period is checked to the microsecond without sleeping.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from pitmaster.errors import Conflict, NotFound
from pitmaster.executors.base import Observation, RunSpec, Started
from pitmaster.models import (
    DEFAULT_QUEUE,
    Attempt,
    AttemptState,
    Execution,
    Status,
    container_name,
)
from pitmaster.store import lifecycle
from pitmaster.store.engine import WRITE_INTENT
from pitmaster.store.lifecycle import MarkResult
from pitmaster.store.store import BulkRetry, ExecutionFilter, Store
from pitmaster.testing import FakeContainer, FakeExecutor
from pitmaster.worker.poller import Poller
from pitmaster.worker.runner import Runner, run_spec

if TYPE_CHECKING:
    from tests.conftest import ManualClock

LEASE = 30.0
LOG_LIMIT = 64 * 1024
IMAGE = "shop:1.2"
COMMAND = ["bundle", "exec", "rake", "mail:send"]


@pytest.fixture
def executor() -> FakeExecutor:
    return FakeExecutor(engine="engine-a")


def define(store: Store, **policy: Any) -> None:
    """Given an app ``shop`` whose job ``mail`` has this policy."""
    store.create_app("shop", IMAGE)
    store.create_job_definition("shop", "mail", COMMAND, **policy)


def runner(store: Store, executor: FakeExecutor, worker_id: str = "worker-a") -> Runner:
    return Runner(store, executor, worker_id, LEASE)


def poller(store: Store, executor: FakeExecutor, clock: ManualClock | None = None) -> Poller:
    if clock is None:
        return Poller(store, executor, LOG_LIMIT)
    return Poller(store, executor, LOG_LIMIT, clock=clock)


def attempts(store: Store, execution: Execution) -> list[Attempt]:
    return store.attempts_of(execution.id)


def latest(store: Store, execution: Execution) -> Attempt:
    return attempts(store, execution)[-1]


def container(store: Store, executor: FakeExecutor, attempt: Attempt) -> FakeContainer:
    return executor.containers[container_name(store.installation_id(), attempt.id)]


def status_of(store: Store, execution: Execution) -> Status:
    return store.get_execution(execution.message_id).status


def start(store: Store, executor: FakeExecutor, execution: Execution) -> FakeContainer:
    """The runner starts the execution's current attempt; its container."""
    assert runner(store, executor).run_once() is True
    attempt = latest(store, execution)
    assert attempt.state is AttemptState.RUNNING
    return container(store, executor, attempt)


def start_and_end(
    store: Store,
    executor: FakeExecutor,
    execution: Execution,
    exit_code: int,
    *,
    oom: bool = False,
    clock: ManualClock | None = None,
) -> FakeContainer:
    """The current attempt starts, exits so, and the poller records it."""
    running = start(store, executor, execution)
    executor.finish(running.spec.name, exit_code, oom=oom)
    assert poller(store, executor, clock).sweep() == 1
    return running


# -- automatic retries -------------------------------------------------------------------


def test_given_a_retry_policy_when_an_attempt_fails_then_a_new_queued_attempt_after_the_delay(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    define(clocked_store, retry_limit=2, base_delay=10, max_delay=15, jitter=False)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, {"n": 1})
    first = start(clocked_store, executor, execution)

    # When the first attempt fails and is recorded 5 s later,
    executor.finish(first.spec.name, 1, stderr="smtp down\n")
    clock.advance(5)
    failed_at = clock.now
    assert poller(clocked_store, executor, clock).sweep() == 1

    # then it ended, and a second attempt waits with a message_id of its own.
    ended, retry = attempts(clocked_store, execution)
    assert (ended.state, ended.status, ended.reason) == (
        AttemptState.ENDED,
        Status.FAILED,
        "exited 1",
    )
    assert ended.stderr == "smtp down\n"
    assert (retry.state, retry.number) == (AttemptState.QUEUED, 1)
    assert retry.message_id not in (execution.message_id, ended.message_id)
    assert retry.container_id is None
    assert retry.run_after == failed_at + timedelta(seconds=10)  # 2**0 * base_delay
    waiting = clocked_store.get_execution(execution.message_id)
    assert waiting.status is Status.RETRIED
    assert waiting.run_after == retry.run_after
    assert first.spec.name not in executor.containers  # the failed container was removed

    # The retry does not start a moment before its time,
    clock.advance(9.999999)
    assert runner(clocked_store, executor).run_once() is False
    clock.advance(0.000001)
    second = start(clocked_store, executor, execution)
    # and while it runs, the execution still shows "retried".
    assert status_of(clocked_store, execution) is Status.RETRIED
    assert second.spec.environment["BARBEQUE_RETRY_COUNT"] == "1"
    assert second.spec.environment["BARBEQUE_MESSAGE_ID"] == execution.message_id
    assert second.spec.environment["PITMASTER_ATTEMPT_ID"] == retry.message_id

    # When the second attempt fails, the third waits min(2**1 * 10, 15) = 15 s.
    executor.finish(second.spec.name, 2)
    clock.advance(1)
    second_failed_at = clock.now
    assert poller(clocked_store, executor, clock).sweep() == 1
    third_attempt = latest(clocked_store, execution)
    assert third_attempt.number == 2
    assert third_attempt.run_after == second_failed_at + timedelta(seconds=15)
    assert status_of(clocked_store, execution) is Status.RETRIED

    # When the last allowed attempt fails too, the execution ends failed for good.
    clock.advance(15)
    third = start(clocked_store, executor, execution)
    assert third.spec.environment["BARBEQUE_RETRY_COUNT"] == "2"
    executor.finish(third.spec.name, 3)
    assert poller(clocked_store, executor, clock).sweep() == 1

    final = clocked_store.get_execution(execution.message_id)
    assert (final.status, final.reason, final.exit_code) == (Status.FAILED, "exited 3", 3)
    assert final.finished_at == third.finished_at
    assert len(attempts(clocked_store, execution)) == 3
    clock.advance(3600)
    assert runner(clocked_store, executor).run_once() is False


def test_given_a_failing_attempt_when_a_retry_succeeds_then_the_execution_ends_success(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    define(clocked_store, retry_limit=3, base_delay=1)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    start_and_end(clocked_store, executor, execution, 1, clock=clock)
    clock.advance(1)

    start_and_end(clocked_store, executor, execution, 0, clock=clock)

    final = clocked_store.get_execution(execution.message_id)
    assert (final.status, final.reason, final.exit_code) == (Status.SUCCESS, "exited 0", 0)
    assert [a.status for a in attempts(clocked_store, execution)] == [Status.FAILED, Status.SUCCESS]
    clock.advance(3600)
    assert runner(clocked_store, executor).run_once() is False


def test_given_retries_when_each_attempt_runs_then_it_sees_the_executions_id_and_its_own_time(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    define(clocked_store, retry_limit=2, base_delay=1)
    message = {"to": "a@example.com"}
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, message)
    specs: list[RunSpec] = []

    for _ in range(3):
        specs.append(start_and_end(clocked_store, executor, execution, 1, clock=clock).spec)
        clock.advance(60)

    made = attempts(clocked_store, execution)
    assert [s.environment["BARBEQUE_RETRY_COUNT"] for s in specs] == ["0", "1", "2"]
    # barbeque's: every attempt has the execution's message_id (ActiveJob's job_id).
    assert {s.environment["BARBEQUE_MESSAGE_ID"] for s in specs} == {execution.message_id}
    assert [s.environment["PITMASTER_ATTEMPT_ID"] for s in specs] == [a.message_id for a in made]
    assert len({s.name for s in specs}) == 3  # one container name per attempt
    # Each attempt was sent when it was queued: the enqueue, then each failure's retry.
    sent = [int(s.environment["BARBEQUE_SENT_TIMESTAMP"]) for s in specs]
    assert sent[0] == int(execution.created_at.timestamp() * 1000)
    assert sent[1] >= sent[0]  # the first failure, recorded as soon as it ran
    assert sent[2] - sent[1] == 60_000  # the second failure, a minute later
    for spec in specs:
        assert json.loads(spec.environment["BARBEQUE_MESSAGE"]) == message


def test_given_a_successful_attempt_when_recorded_then_never_retried(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    define(clocked_store, retry_limit=5, base_delay=0)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)

    start_and_end(clocked_store, executor, execution, 0, clock=clock)

    assert status_of(clocked_store, execution) is Status.SUCCESS
    assert len(attempts(clocked_store, execution)) == 1
    assert runner(clocked_store, executor).run_once() is False


def test_given_no_retry_limit_when_an_attempt_fails_then_the_execution_fails_at_once(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    define(clocked_store, base_delay=0)  # retry_limit defaults to 0
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)

    start_and_end(clocked_store, executor, execution, 1, clock=clock)

    assert status_of(clocked_store, execution) is Status.FAILED
    assert len(attempts(clocked_store, execution)) == 1
    assert runner(clocked_store, executor).run_once() is False


RETRY_RULES: list[tuple[str, list[str] | None, list[int] | None, int, bool, bool]] = [
    # id, retry_on, retry_exit_codes, exit code, OOM-killed, retried?
    ("listed exit code", ["failed"], [3], 3, False, True),
    ("unlisted exit code", ["failed"], [3], 4, False, False),
    ("any exit code", ["failed"], None, 4, False, True),
    ("failed not in retry_on", ["oom"], None, 1, False, False),
    ("oom in retry_on", ["oom"], None, 137, True, True),
    ("oom not in retry_on", ["failed"], None, 137, True, False),
    ("exit codes do not restrict oom", ["failed", "oom"], [3], 137, True, True),
    ("empty retry_on", [], None, 1, False, False),
    ("every ending by default", None, None, 1, False, True),
    ("oom by default", None, None, 137, True, True),
]


@pytest.mark.parametrize(
    ("retry_on", "retry_exit_codes", "exit_code", "oom", "retried"),
    [case[1:] for case in RETRY_RULES],
    ids=[case[0] for case in RETRY_RULES],
)
def test_given_retry_rules_when_an_attempt_ends_so_then_retried_only_if_they_say_so(
    clocked_store: Store,
    clock: ManualClock,
    executor: FakeExecutor,
    retry_on: list[str] | None,
    retry_exit_codes: list[int] | None,
    exit_code: int,
    oom: bool,
    retried: bool,
) -> None:
    define(
        clocked_store,
        retry_limit=3,
        base_delay=0,
        retry_on=retry_on,
        retry_exit_codes=retry_exit_codes,
    )
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)

    start_and_end(clocked_store, executor, execution, exit_code, oom=oom, clock=clock)

    fetched = clocked_store.get_execution(execution.message_id)
    made = attempts(clocked_store, execution)
    assert made[0].status is Status.FAILED
    assert made[0].reason == ("oom" if oom else f"exited {exit_code}")
    if retried:
        assert fetched.status is Status.RETRIED
        assert [a.state for a in made] == [AttemptState.ENDED, AttemptState.QUEUED]
        assert runner(clocked_store, executor).run_once() is True
    else:
        assert fetched.status is Status.FAILED
        assert len(made) == 1
        assert runner(clocked_store, executor).run_once() is False


@pytest.mark.parametrize(
    ("retry_on", "retried"), [(["lost"], True), (["failed"], False)], ids=["lost", "not-lost"]
)
def test_given_a_container_removed_from_outside_then_lost_is_retried_only_if_in_retry_on(
    clocked_store: Store,
    clock: ManualClock,
    executor: FakeExecutor,
    retry_on: list[str],
    retried: bool,
) -> None:
    define(clocked_store, retry_limit=1, base_delay=0, retry_on=retry_on)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    running = start(clocked_store, executor, execution)

    del executor.containers[running.spec.name]  # `docker rm -f` behind pitmaster's back
    assert poller(clocked_store, executor, clock).sweep() == 1

    first = attempts(clocked_store, execution)[0]
    assert (first.status, first.reason) == (Status.ERROR, "lost")
    expected = Status.RETRIED if retried else Status.ERROR
    assert status_of(clocked_store, execution) is expected
    assert len(attempts(clocked_store, execution)) == (2 if retried else 1)


@pytest.mark.parametrize(
    ("retry_on", "retried"), [(["error"], True), (["lost"], False)], ids=["error", "not-error"]
)
def test_given_an_image_that_is_missing_then_the_error_is_retried_only_if_in_retry_on(
    clocked_store: Store,
    executor: FakeExecutor,
    retry_on: list[str],
    retried: bool,
) -> None:
    define(clocked_store, retry_limit=1, base_delay=0, retry_on=retry_on)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    executor.missing_images.add(IMAGE)

    assert runner(clocked_store, executor).run_once() is True

    first = attempts(clocked_store, execution)[0]
    assert first.status is Status.ERROR
    assert status_of(clocked_store, execution) is (Status.RETRIED if retried else Status.ERROR)
    executor.missing_images.clear()
    assert runner(clocked_store, executor).run_once() is retried


# -- a crash while recording ---------------------------------------------------------


class SimulatedCrash(Exception):
    """The process died here: nothing after this point in the transaction happened."""


def test_given_a_crash_between_recording_a_failure_and_scheduling_its_retry_then_exactly_one_retry(
    clocked_store: Store,
    clock: ManualClock,
    executor: FakeExecutor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    define(clocked_store, retry_limit=3, base_delay=5)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    running = start(clocked_store, executor, execution)
    executor.finish(running.spec.name, 1, stdout="partial\n")
    real_queue_attempt = lifecycle.queue_attempt
    crashes: list[int] = []

    def crash_once(*args: Any, **kwargs: Any) -> int:
        if not crashes:
            crashes.append(1)
            raise SimulatedCrash("died after ending the attempt, before queueing its retry")
        return real_queue_attempt(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "queue_attempt", crash_once)

    # When the poller dies halfway through recording the failure,
    with pytest.raises(SimulatedCrash):
        poller(clocked_store, executor, clock).sweep()

    # then nothing of it was written: the attempt still runs, no retry exists,
    assert crashes == [1]
    (attempt,) = attempts(clocked_store, execution)
    assert (attempt.state, attempt.status, attempt.stdout) == (AttemptState.RUNNING, None, None)
    assert status_of(clocked_store, execution) is Status.RUNNING
    assert running.spec.name in executor.containers  # nor was the container removed
    assert executor.calls.remove == 0

    # and the next sweep (a restarted worker) records it with exactly one retry.
    assert poller(clocked_store, executor, clock).sweep() == 1
    assert poller(clocked_store, executor, clock).sweep() == 0
    ended, retry = attempts(clocked_store, execution)
    assert (ended.state, ended.status, ended.stdout) == (
        AttemptState.ENDED,
        Status.FAILED,
        "partial\n",
    )
    assert retry.state is AttemptState.QUEUED
    assert retry.run_after == clock.now + timedelta(seconds=5)
    assert status_of(clocked_store, execution) is Status.RETRIED
    assert executor.calls.remove == 1


# -- cancellation ----------------------------------------------------------------------


def test_given_a_pending_execution_when_cancelled_then_it_never_starts(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    define(clocked_store, retry_limit=3)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)

    cancelled = clocked_store.cancel(execution.message_id)

    assert (cancelled.status, cancelled.reason) == (Status.CANCELLED, "cancelled")
    assert cancelled.finished_at == clock.now
    (attempt,) = attempts(clocked_store, execution)
    assert (attempt.state, attempt.status) == (AttemptState.ENDED, Status.CANCELLED)
    assert runner(clocked_store, executor).run_once() is False
    assert executor.calls.start == 0
    assert clocked_store.claim("another-worker", LEASE) is None


def test_given_a_delayed_execution_when_cancelled_then_it_never_starts_after_its_time(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    define(clocked_store)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None, delay_seconds=60)

    assert clocked_store.cancel(execution.message_id).status is Status.CANCELLED

    clock.advance(120)
    assert runner(clocked_store, executor).run_once() is False
    assert executor.calls.start == 0


def test_given_an_attempt_claimed_but_starting_when_cancelled_then_its_container_is_removed(
    clocked_store: Store,
    clock: ManualClock,
    executor: FakeExecutor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    define(clocked_store, retry_limit=3)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    real_start = executor.start
    cancelled_during_start: list[Execution] = []

    def start_while_cancelled(spec: RunSpec) -> Started:
        # The user cancels after the runner claimed the attempt, before it is stored as running.
        cancelled_during_start.append(clocked_store.cancel(execution.message_id))
        return real_start(spec)

    real_mark_running = clocked_store.mark_running
    marks: list[MarkResult] = []

    def spy_mark_running(*args: Any, **kwargs: Any) -> MarkResult:
        marks.append(real_mark_running(*args, **kwargs))
        return marks[-1]

    monkeypatch.setattr(executor, "start", start_while_cancelled)
    monkeypatch.setattr(clocked_store, "mark_running", spy_mark_running)

    assert runner(clocked_store, executor).run_once() is True

    assert [e.status for e in cancelled_during_start] == [Status.CANCELLED]
    assert marks == [MarkResult.ENDED]
    assert executor.calls.created == 1
    assert executor.containers == {}  # the container it made was removed at once
    assert executor.calls.remove == 1
    fetched = clocked_store.get_execution(execution.message_id)
    assert (fetched.status, fetched.reason) == (Status.CANCELLED, "cancelled")
    (attempt,) = attempts(clocked_store, execution)
    assert (attempt.state, attempt.status, attempt.container_id) == (
        AttemptState.ENDED,
        Status.CANCELLED,
        None,
    )
    assert poller(clocked_store, executor, clock).sweep() == 0
    clock.advance(LEASE + 1)  # not even after its lease is it taken up again
    assert runner(clocked_store, executor, "worker-b").run_once() is False


@pytest.mark.parametrize("obeys_sigterm", [True, False], ids=["obeys-sigterm", "ignores-sigterm"])
def test_given_a_running_attempt_when_cancelled_then_stopped_and_recorded_cancelled(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor, obeys_sigterm: bool
) -> None:
    define(clocked_store, retry_limit=3, base_delay=0, stop_grace_seconds=10)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    running = start(clocked_store, executor, execution)
    running.obeys_sigterm = obeys_sigterm

    # When it is cancelled, the call only asks for a stop: the container is still up,
    asked = clocked_store.cancel(execution.message_id)
    assert asked.status is Status.RUNNING
    assert latest(clocked_store, execution).stop_reason == "cancelled"
    assert running.signals == []

    # then the poller sends SIGTERM (and SIGKILL only once the grace has passed),
    sweeper = poller(clocked_store, executor, clock)
    assert sweeper.sweep() == 0
    assert running.signals == ["SIGTERM"]
    if not obeys_sigterm:
        clock.advance(9.999)
        assert sweeper.sweep() == 0
        assert running.signals == ["SIGTERM"]
        clock.advance(0.001)
        assert sweeper.sweep() == 0
        assert running.signals == ["SIGTERM", "SIGKILL"]

    # and records the ending as cancelled, not retried, and removes the container.
    assert sweeper.sweep() == 1
    fetched = clocked_store.get_execution(execution.message_id)
    exit_code = 143 if obeys_sigterm else 137
    assert (fetched.status, fetched.reason, fetched.exit_code) == (
        Status.CANCELLED,
        "cancelled",
        exit_code,
    )
    assert len(attempts(clocked_store, execution)) == 1
    assert running.spec.name not in executor.containers
    assert runner(clocked_store, executor).run_once() is False


def test_given_a_retry_waiting_to_start_when_cancelled_then_it_never_starts(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    define(clocked_store, retry_limit=3, base_delay=60)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    start_and_end(clocked_store, executor, execution, 1, clock=clock)
    assert status_of(clocked_store, execution) is Status.RETRIED

    cancelled = clocked_store.cancel(execution.message_id)

    assert (cancelled.status, cancelled.reason) == (Status.CANCELLED, "cancelled")
    first, retry = attempts(clocked_store, execution)
    assert first.status is Status.FAILED
    assert (retry.state, retry.status) == (AttemptState.ENDED, Status.CANCELLED)
    clock.advance(3600)
    assert runner(clocked_store, executor).run_once() is False
    assert executor.calls.start == 1


def test_given_a_retry_when_cancelled_by_its_own_message_id_then_the_execution_is_cancelled(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    define(clocked_store, retry_limit=3, base_delay=60)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    start_and_end(clocked_store, executor, execution, 1, clock=clock)
    retry = latest(clocked_store, execution)

    cancelled = clocked_store.cancel(retry.message_id)

    assert (cancelled.id, cancelled.status) == (execution.id, Status.CANCELLED)


def test_given_a_pending_execution_when_cancelled_twice_then_both_answer_cancelled(
    clocked_store: Store, executor: FakeExecutor
) -> None:
    define(clocked_store)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)

    first = clocked_store.cancel(execution.message_id)
    second = clocked_store.cancel(execution.message_id)

    assert first == second
    assert second.status is Status.CANCELLED
    assert len(attempts(clocked_store, execution)) == 1


def test_given_a_running_attempt_when_cancelled_twice_then_one_stop(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    define(clocked_store)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    running = start(clocked_store, executor, execution)
    running.obeys_sigterm = False
    clocked_store.cancel(execution.message_id)
    sweeper = poller(clocked_store, executor, clock)
    assert sweeper.sweep() == 0

    clock.advance(1)
    again = clocked_store.cancel(execution.message_id)
    assert sweeper.sweep() == 0

    assert again.status is Status.RUNNING
    assert running.signals == ["SIGTERM"]  # the second cancel restarted nothing


@pytest.mark.parametrize(("exit_code", "status"), [(0, Status.SUCCESS), (1, Status.FAILED)])
def test_given_an_ended_execution_when_cancelled_then_conflict_and_it_is_unchanged(
    clocked_store: Store,
    clock: ManualClock,
    executor: FakeExecutor,
    exit_code: int,
    status: Status,
) -> None:
    define(clocked_store)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    start_and_end(clocked_store, executor, execution, exit_code, clock=clock)
    before = clocked_store.get_execution(execution.message_id)

    with pytest.raises(Conflict, match=status.value):
        clocked_store.cancel(execution.message_id)

    assert clocked_store.get_execution(execution.message_id) == before
    assert before.status is status


def test_given_no_execution_when_cancelled_then_not_found(clocked_store: Store) -> None:
    with pytest.raises(NotFound):
        clocked_store.cancel("00000000-0000-0000-0000-000000000000")


def test_given_a_cancel_while_the_poller_records_a_failure_then_no_retry_runs(
    clocked_store: Store,
    clock: ManualClock,
    executor: FakeExecutor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    define(clocked_store, retry_limit=3, base_delay=0)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    running = start(clocked_store, executor, execution)
    executor.finish(running.spec.name, 1)
    real_observe = executor.observe

    def observe_then_cancel(handles: Collection[str]) -> dict[str, Observation]:
        # The user's cancel lands after the poller listed its running attempts.
        accepted.append(clocked_store.cancel(execution.message_id))
        return real_observe(handles)

    accepted: list[Execution] = []
    monkeypatch.setattr(executor, "observe", observe_then_cancel)
    assert poller(clocked_store, executor, clock).sweep() == 1
    monkeypatch.undo()

    # The cancel was accepted (not a Conflict), so no further attempt may run.
    assert [e.status for e in accepted] == [Status.RUNNING]
    assert status_of(clocked_store, execution).is_terminal
    assert runner(clocked_store, executor).run_once() is False
    assert len(attempts(clocked_store, execution)) == 1


class InterleavingConnection:
    """A connection that runs ``action`` right after its ``after``-th statement."""

    def __init__(self, conn: sa.Connection, after: int, action: Callable[[], None]) -> None:
        self._conn = conn
        self._after = after
        self._action = action
        self._count = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        result = self._conn.execute(*args, **kwargs)
        self._count += 1
        if self._count == self._after:
            self._action()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_given_a_cancel_racing_the_runners_mark_running_then_the_container_is_stopped_or_removed(
    request: pytest.FixtureRequest,
    clocked_store: Store,
    clock: ManualClock,
    executor: FakeExecutor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    define(clocked_store, retry_limit=3)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    claim = clocked_store.claim("worker-a", LEASE)
    assert claim is not None
    assert claim.docker_image is not None and claim.command is not None
    started = executor.start(run_spec(claim, claim.docker_image, claim.command))
    marks: list[MarkResult] = []

    def runner_marks_running() -> None:
        marks.append(
            clocked_store.mark_running(
                # As the runner does: a fresh container's start time comes with its exit.
                claim.attempt_id,
                started.handle,
                executor.engine,
                started.started_at or clock.now,
            )
        )

    racer = threading.Thread(target=runner_marks_running)

    def let_the_runner_in() -> None:
        # SQLite: the runner waits for cancel's write lock. PostgreSQL: it commits now.
        racer.start()
        racer.join(timeout=1)

    real_cancel = lifecycle.cancel

    def interleaved_cancel(conn: sa.Connection, now: datetime, execution_id: int) -> None:
        # After cancel read the execution and its attempt's state (two SELECTs).
        real_cancel(InterleavingConnection(conn, 2, let_the_runner_in), now, execution_id)  # type: ignore[arg-type]

    monkeypatch.setattr(lifecycle, "cancel", interleaved_cancel)
    clocked_store.cancel(execution.message_id)
    monkeypatch.undo()
    racer.join(timeout=30)

    # Either the runner learned the attempt ended (and removes its container),
    # or the cancel turned into a stop of the running container.
    (attempt,) = attempts(clocked_store, execution)
    assert marks == [MarkResult.ENDED] or attempt.stop_reason == "cancelled", (marks, attempt)
    executor.finish(claim.container_name, 0)
    poller(clocked_store, executor, clock).sweep()
    assert status_of(clocked_store, execution) is Status.CANCELLED


def test_given_a_container_that_exited_0_when_cancelled_before_the_sweep_then_cancelled_keeping_its_output(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    define(clocked_store)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    running = start(clocked_store, executor, execution)
    executor.finish(running.spec.name, 0, stdout="all mails sent\n")

    # When the user cancels after the job has finished but before the poller noticed,
    clocked_store.cancel(execution.message_id)
    assert poller(clocked_store, executor, clock).sweep() == 1

    # then the cancel accepted first wins (the engine's clock is not compared with
    # ours), and the run's exit code and output are kept for whoever looks.
    fetched = clocked_store.get_execution(execution.message_id)
    assert (fetched.status, fetched.exit_code) == (Status.CANCELLED, 0)
    assert latest(clocked_store, execution).stdout == "all mails sent\n"


# -- timeouts --------------------------------------------------------------------------


def started_timed(
    store: Store, clock: ManualClock, executor: FakeExecutor, **policy: Any
) -> tuple[Execution, FakeContainer]:
    """Given a started attempt of a job with this policy; the clock set to its start."""
    define(store, **policy)
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    running = start(store, executor, execution)
    started_at = latest(store, execution).started_at
    assert started_at is not None
    clock.now = started_at
    return execution, running


@pytest.mark.parametrize(
    ("retry_on", "retried"),
    [(None, True), (["timeout"], True), (["failed", "oom"], False)],
    ids=["every-ending", "timeout-listed", "timeout-not-listed"],
)
def test_given_a_job_ignoring_sigterm_when_it_times_out_then_sigkill_after_the_grace(
    clocked_store: Store,
    clock: ManualClock,
    executor: FakeExecutor,
    retry_on: list[str] | None,
    retried: bool,
) -> None:
    execution, running = started_timed(
        clocked_store,
        clock,
        executor,
        timeout_seconds=5,
        stop_grace_seconds=10,
        retry_limit=1,
        base_delay=0,
        retry_on=retry_on,
    )
    running.obeys_sigterm = False
    sweeper = poller(clocked_store, executor, clock)

    # Not a moment before its timeout,
    clock.advance(4.999)
    assert sweeper.sweep() == 0
    assert running.signals == []
    assert latest(clocked_store, execution).stop_reason is None

    # then SIGTERM when the timeout passes,
    clock.advance(0.001)
    assert sweeper.sweep() == 0
    assert running.signals == ["SIGTERM"]
    assert latest(clocked_store, execution).stop_reason == "timeout"
    assert sweeper.sweep() == 0
    assert running.signals == ["SIGTERM"]  # signalled once, not on every sweep

    # SIGKILL only once the grace has passed since SIGTERM,
    clock.advance(9.999)
    assert sweeper.sweep() == 0
    assert running.signals == ["SIGTERM"]
    clock.advance(0.001)
    assert sweeper.sweep() == 0
    assert running.signals == ["SIGTERM", "SIGKILL"]

    # and the attempt ends failed with reason timeout, retried only if retry_on allows it.
    assert sweeper.sweep() == 1
    ended = attempts(clocked_store, execution)[0]
    assert (ended.status, ended.reason, ended.exit_code) == (Status.FAILED, "timeout", 137)
    fetched = clocked_store.get_execution(execution.message_id)
    assert fetched.status is (Status.RETRIED if retried else Status.FAILED)
    assert len(attempts(clocked_store, execution)) == (2 if retried else 1)
    assert running.spec.name not in executor.containers


def test_given_a_job_obeying_sigterm_when_it_times_out_then_failed_timeout_without_sigkill(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    execution, running = started_timed(
        clocked_store, clock, executor, timeout_seconds=30, stop_grace_seconds=10
    )
    sweeper = poller(clocked_store, executor, clock)

    clock.advance(30)
    assert sweeper.sweep() == 0
    clock.advance(60)
    assert sweeper.sweep() == 1

    assert running.signals == ["SIGTERM"]
    fetched = clocked_store.get_execution(execution.message_id)
    assert (fetched.status, fetched.reason, fetched.exit_code) == (Status.FAILED, "timeout", 143)


def test_given_no_timeout_when_it_runs_for_days_then_it_is_left_alone(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    execution, running = started_timed(clocked_store, clock, executor)

    clock.advance(7 * 24 * 3600)
    assert poller(clocked_store, executor, clock).sweep() == 0

    assert running.signals == []
    assert status_of(clocked_store, execution) is Status.RUNNING


def test_given_a_job_that_timed_out_when_its_poller_restarts_then_the_stop_carries_on(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    execution, running = started_timed(
        clocked_store, clock, executor, timeout_seconds=5, stop_grace_seconds=10
    )
    running.obeys_sigterm = False
    clock.advance(5)
    assert poller(clocked_store, executor, clock).sweep() == 0

    # A new poller (the worker restarted) keeps the stored grace, from the first SIGTERM.
    clock.advance(10)
    assert poller(clocked_store, executor, clock).sweep() == 0

    assert running.signals == ["SIGTERM", "SIGKILL"]
    assert poller(clocked_store, executor, clock).sweep() == 1
    assert clocked_store.get_execution(execution.message_id).reason == "timeout"


def test_given_a_timed_out_job_being_stopped_when_cancelled_then_cancelled_and_not_retried(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    execution, running = started_timed(
        clocked_store,
        clock,
        executor,
        timeout_seconds=5,
        stop_grace_seconds=10,
        retry_limit=3,
        base_delay=0,
    )
    running.obeys_sigterm = False
    clock.advance(5)
    sweeper = poller(clocked_store, executor, clock)
    assert sweeper.sweep() == 0  # timed out: SIGTERM sent, ignored

    # When the user cancels it during the grace, and the cancel is accepted,
    clocked_store.cancel(execution.message_id)
    clock.advance(10)
    assert sweeper.sweep() == 0  # SIGKILL
    assert sweeper.sweep() == 1

    # then it ends cancelled and no retry ever runs.
    assert status_of(clocked_store, execution) is Status.CANCELLED
    assert len(attempts(clocked_store, execution)) == 1


# -- retries by hand -------------------------------------------------------------------


def test_given_a_failed_execution_when_retried_by_hand_then_a_new_attempt_runs_after_the_delay(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    define(clocked_store)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, {"n": 1})
    start_and_end(clocked_store, executor, execution, 1, clock=clock)
    clock.advance(100)

    retry_id = clocked_store.retry(execution.message_id, delay_seconds=30)

    assert retry_id != execution.message_id
    assert status_of(clocked_store, execution) is Status.RETRIED
    assert clocked_store.get_execution(retry_id).id == execution.id  # found by its own id too
    retry = latest(clocked_store, execution)
    assert (retry.message_id, retry.number, retry.state) == (retry_id, 1, AttemptState.QUEUED)
    assert retry.run_after == clock.now + timedelta(seconds=30)
    clock.advance(29)
    assert runner(clocked_store, executor).run_once() is False
    clock.advance(1)
    running = start(clocked_store, executor, execution)
    assert running.spec.environment["BARBEQUE_MESSAGE_ID"] == execution.message_id
    assert running.spec.environment["PITMASTER_ATTEMPT_ID"] == retry_id
    assert running.spec.environment["BARBEQUE_RETRY_COUNT"] == "1"
    executor.finish(running.spec.name, 0)
    assert poller(clocked_store, executor, clock).sweep() == 1
    assert status_of(clocked_store, execution) is Status.SUCCESS


def test_given_a_cancelled_execution_when_retried_by_hand_then_it_runs(
    clocked_store: Store, executor: FakeExecutor
) -> None:
    define(clocked_store)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    clocked_store.cancel(execution.message_id)

    retry_id = clocked_store.retry(execution.message_id)

    assert status_of(clocked_store, execution) is Status.RETRIED
    running = start(clocked_store, executor, execution)
    assert running.spec.environment["BARBEQUE_MESSAGE_ID"] == execution.message_id
    assert running.spec.environment["PITMASTER_ATTEMPT_ID"] == retry_id


def test_given_an_error_execution_when_retried_by_hand_then_it_runs(
    clocked_store: Store, executor: FakeExecutor
) -> None:
    define(clocked_store)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    executor.missing_images.add(IMAGE)
    assert runner(clocked_store, executor).run_once() is True
    assert status_of(clocked_store, execution) is Status.ERROR
    executor.missing_images.clear()

    clocked_store.retry(execution.message_id)

    start(clocked_store, executor, execution)
    assert len(attempts(clocked_store, execution)) == 2


@pytest.mark.parametrize("state", ["pending", "running", "success", "retried"])
def test_given_an_execution_not_failed_when_retried_by_hand_then_conflict_and_unchanged(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor, state: str
) -> None:
    define(clocked_store, retry_limit=1, base_delay=60)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    if state == "running":
        start(clocked_store, executor, execution)
    elif state in ("success", "retried"):
        start_and_end(clocked_store, executor, execution, 0 if state == "success" else 1)
    before = clocked_store.get_execution(execution.message_id)
    assert before.status.value == state
    count = len(attempts(clocked_store, execution))

    with pytest.raises(Conflict, match=state):
        clocked_store.retry(execution.message_id)

    assert clocked_store.get_execution(execution.message_id) == before
    assert len(attempts(clocked_store, execution)) == count


def test_given_no_execution_when_retried_by_hand_then_not_found(clocked_store: Store) -> None:
    with pytest.raises(NotFound):
        clocked_store.retry("no-such-message")


def test_given_executions_that_ended_in_many_ways_when_retried_in_bulk_then_only_the_matching(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    define(clocked_store)
    clocked_store.create_app("blog", "blog:1")
    clocked_store.create_job_definition("blog", "mail", ["b"])

    def ended(app: str, exit_code: int) -> Execution:
        execution = clocked_store.enqueue(app, "mail", DEFAULT_QUEUE, None)
        start_and_end(clocked_store, executor, execution, exit_code, clock=clock)
        clock.advance(60)
        return execution

    old_failure = ended("shop", 1)
    since = clock.now
    new_failure = ended("shop", 2)
    success = ended("shop", 0)
    blog_failure = ended("blog", 1)
    cancelled = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    clocked_store.cancel(cancelled.message_id)
    pending = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None)

    # When shop's failures since a moment are retried, only the newer shop failure is.
    assert (
        clocked_store.retry_all(
            ExecutionFilter(application="shop", status=Status.FAILED), since
        ).retried
        == 1
    )
    assert status_of(clocked_store, new_failure) is Status.RETRIED
    assert status_of(clocked_store, old_failure) is Status.FAILED

    # When every failure is retried, the rest are, once each; other endings are untouched.
    assert clocked_store.retry_all(ExecutionFilter(status=Status.FAILED)).retried == 2
    assert clocked_store.retry_all(ExecutionFilter(status=Status.FAILED)).retried == 0
    for execution in (old_failure, new_failure, blog_failure):
        assert status_of(clocked_store, execution) is Status.RETRIED
        assert len(attempts(clocked_store, execution)) == 2
    assert status_of(clocked_store, success) is Status.SUCCESS
    assert status_of(clocked_store, cancelled) is Status.CANCELLED
    assert status_of(clocked_store, pending) is Status.PENDING

    # Cancelled ones are retried when asked for by status.
    assert clocked_store.retry_all(ExecutionFilter(status=Status.CANCELLED)).retried == 1
    assert status_of(clocked_store, cancelled) is Status.RETRIED
    started = 0
    while runner(clocked_store, executor).run_once():
        started += 1
    assert started == 5  # four retries and the pending one


def test_given_many_to_retry_when_retried_in_bulk_then_short_transactions_up_to_the_limit(
    store: Store,
) -> None:
    # Given seven cancelled executions.
    define(store)
    executions = [store.enqueue("shop", "mail", DEFAULT_QUEUE, None) for _ in range(7)]
    for execution in executions:
        store.cancel(execution.message_id)
    writes: list[int] = []

    def count_write(conn: sa.Connection) -> None:
        if conn.get_execution_options().get(WRITE_INTENT):
            writes.append(1)

    sa.event.listen(store._engine, "begin", count_write)
    cancelled = ExecutionFilter(status=Status.CANCELLED)

    # When at most five are retried, two to a transaction.
    done = store.retry_all(cancelled, limit=5, batch_size=2)

    # Then the five oldest are, in three write transactions, and the answer says two remain.
    assert done == BulkRetry(matched=7, retried=5, remaining=2, next_after_id=executions[4].id)
    assert len(writes) == 3
    assert [status_of(store, e) for e in executions] == [Status.RETRIED] * 5 + [
        Status.CANCELLED
    ] * 2

    # When it goes on after the last one retried, the rest are, and nothing remains.
    rest = store.retry_all(cancelled, after_id=done.next_after_id, limit=5, batch_size=2)
    assert rest == BulkRetry(matched=2, retried=2, remaining=0, next_after_id=None)
    assert all(status_of(store, e) is Status.RETRIED for e in executions)


# -- idempotent enqueue ----------------------------------------------------------------


def test_given_an_idempotency_key_when_the_same_request_comes_again_then_the_same_execution(
    clocked_store: Store, clock: ManualClock
) -> None:
    define(clocked_store)
    first = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, {"n": 1}, idempotency_key="k-1")
    clock.advance(10)

    again = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, {"n": 1}, idempotency_key="k-1")

    assert again == first
    assert len(clocked_store.list_executions(ExecutionFilter()).items) == 1
    assert len(attempts(clocked_store, first)) == 1


def test_given_a_keyed_execution_that_ran_when_the_request_comes_again_then_it_is_not_rerun(
    clocked_store: Store, clock: ManualClock, executor: FakeExecutor
) -> None:
    define(clocked_store)
    first = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None, idempotency_key="k")
    start_and_end(clocked_store, executor, first, 0, clock=clock)

    again = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None, idempotency_key="k")

    assert (again.message_id, again.status) == (first.message_id, Status.SUCCESS)
    assert runner(clocked_store, executor).run_once() is False


@pytest.mark.parametrize(
    "change",
    [
        {"message": {"n": 2}},
        {"job": "other"},
        {"queue": "mailers"},
        {"delay_seconds": 5},
    ],
    ids=["message", "job", "queue", "delay"],
)
def test_given_an_idempotency_key_when_used_for_another_request_then_conflict(
    clocked_store: Store, change: dict[str, Any]
) -> None:
    define(clocked_store)
    clocked_store.create_job_definition("shop", "other", ["o"])
    clocked_store.create_queue("mailers")
    request: dict[str, Any] = {
        "application": "shop",
        "job": "mail",
        "queue": DEFAULT_QUEUE,
        "message": {"n": 1},
    }
    first = clocked_store.enqueue(**request, idempotency_key="k-1")

    with pytest.raises(Conflict, match=first.message_id):
        clocked_store.enqueue(**(request | change), idempotency_key="k-1")

    assert [e.id for e in clocked_store.list_executions(ExecutionFilter()).items] == [first.id]


def test_given_two_apps_when_they_use_the_same_key_then_each_gets_its_own_execution(
    clocked_store: Store,
) -> None:
    define(clocked_store)
    clocked_store.create_app("blog", "blog:1")
    clocked_store.create_job_definition("blog", "mail", ["b"])

    shop = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None, idempotency_key="k")
    blog = clocked_store.enqueue("blog", "mail", DEFAULT_QUEUE, None, idempotency_key="k")

    assert shop.id != blog.id
    assert (shop.application, blog.application) == ("shop", "blog")
    assert clocked_store.enqueue("blog", "mail", DEFAULT_QUEUE, None, idempotency_key="k") == blog


RACERS = 16
RACES = 5


def _race(stores: list[Store], key: str) -> list[Execution | BaseException]:
    """Each store enqueues the same request with ``key``, all released at one instant."""
    barrier = threading.Barrier(len(stores))
    results: list[Execution | BaseException] = [RuntimeError("no answer")] * len(stores)

    def enqueue(number: int, racer: Store) -> None:
        barrier.wait(timeout=30)
        try:
            results[number] = racer.enqueue(
                "shop", "mail", DEFAULT_QUEUE, {"n": 1}, idempotency_key=key
            )
        except Exception as exc:
            results[number] = exc

    threads = [threading.Thread(target=enqueue, args=(n, s)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_given_concurrent_enqueues_with_one_key_on_postgresql_then_one_execution_for_all(
    store: Store, database_url: str
) -> None:
    # Given many servers (each its own store and connection pool) on one database.
    define(store)
    stores = [Store(database_url) for _ in range(RACERS)]
    try:
        for other in stores:
            other.installation_id()  # each has its connection open before the race
        for race in range(RACES):
            # When they all enqueue the same request with one key at the same instant.
            results = _race(stores, f"race-{race}")

            # Then every one of them got the same execution, and only it was stored.
            executions = [r for r in results if isinstance(r, Execution)]
            assert len(executions) == RACERS, [r for r in results if not isinstance(r, Execution)]
            assert {e.message_id for e in executions} == {executions[0].message_id}
            stored = store.list_executions(ExecutionFilter()).items
            assert len(stored) == race + 1, f"race {race}: {len(stored) - race} executions"
            assert len(attempts(store, executions[0])) == 1
    finally:
        for other in stores:
            other.close()


def test_given_no_key_when_the_same_request_comes_twice_then_two_executions(
    clocked_store: Store,
) -> None:
    define(clocked_store)

    first = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, {"n": 1})
    second = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, {"n": 1})

    assert first.id != second.id


def test_given_a_key_for_a_missing_job_when_enqueued_then_not_found_and_the_key_stays_free(
    clocked_store: Store,
) -> None:
    define(clocked_store)

    with pytest.raises(NotFound):
        clocked_store.enqueue("shop", "nope", DEFAULT_QUEUE, None, idempotency_key="k")

    made = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, None, idempotency_key="k")
    assert made.status is Status.PENDING
