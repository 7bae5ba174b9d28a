"""The Worker's threads end to end, with the FakeExecutor and a real SQLite store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from pitmaster.executors.base import ContainerState, RunSpec, Started
from pitmaster.models import DEFAULT_QUEUE, Attempt, Execution, ExecutionFilter, Status
from pitmaster.services import schedules
from pitmaster.services.inputs import ScheduleCreate
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.testing import FakeExecutor
from pitmaster.worker.worker import Worker

from ..waiting import wait_for

WAIT_SECONDS = 10.0
# Far longer than stopping takes: a stop that returns with every thread ended
# did not merely give up waiting for them.
LONG_GRACE_SECONDS = 60.0

WorkerFactory = Callable[..., Worker]


@pytest.fixture
def executor() -> FakeExecutor:
    return FakeExecutor()


@pytest.fixture
def make_worker(
    settings: Settings, store: Store, executor: FakeExecutor
) -> Iterator[WorkerFactory]:
    """Build workers sharing one store and one engine; every one is stopped at teardown."""
    workers: list[Worker] = []

    def make(worker_id: str, **overrides: object) -> Worker:
        tuned = settings.model_copy(update={"worker_id": worker_id, **overrides})
        worker = Worker(tuned, store, executor)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()


@pytest.fixture
def defined(store: Store) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["send-mail"])


def _status_is(store: Store, execution: Execution, status: Status) -> Callable[[], bool]:
    return lambda: store.get_execution(execution.message_id).status is status


def _output_stored(store: Store, execution: Execution) -> Callable[[], bool]:
    return lambda: not store.attempts_of(execution.id)[0].output_pending


def _recorded(store: Store, execution: Execution, status: Status, what: str) -> Execution:
    """Wait until ``execution`` ended in ``status`` with its output stored (it follows the ending)."""

    def recorded() -> Execution | None:
        now = store.get_execution(execution.message_id)
        return now if now.status is status and not now.output_pending else None

    return wait_for(recorded, timeout=WAIT_SECONDS, what=what)


def _running_attempt(store: Store, execution: Execution) -> Attempt:
    def attempt() -> Attempt | None:
        attempts = store.attempts_of(execution.id)
        return attempts[0] if attempts and attempts[0].container_id else None

    return wait_for(
        attempt, timeout=WAIT_SECONDS, what=f"execution {execution.message_id} to be running"
    )


def _container_name(store: Store, attempt: Attempt) -> str:
    return f"pitmaster-{store.installation_id()}-{attempt.id}"


@pytest.mark.parametrize(
    ("exit_code", "status"), [(0, Status.SUCCESS), (4, Status.FAILED)], ids=["ok", "fails"]
)
@pytest.mark.usefixtures("defined")
def test_given_a_worker_when_a_job_is_enqueued_and_exits_then_its_outcome_is_recorded(
    store: Store,
    executor: FakeExecutor,
    make_worker: WorkerFactory,
    exit_code: int,
    status: Status,
) -> None:
    worker = make_worker("worker-1")
    worker.start()

    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {"to": "a@example.com"})
    worker.wake()
    attempt = _running_attempt(store, execution)
    assert store.get_execution(execution.message_id).status is Status.RUNNING
    name = _container_name(store, attempt)
    assert executor.containers[name].spec.command == ("send-mail",)

    executor.finish(name, exit_code, stdout="hello\n", stderr="oops\n")
    finished = _recorded(store, execution, status, f"status {status} and the output")
    assert finished.exit_code == exit_code
    (recorded,) = store.attempts_of(execution.id)
    assert (recorded.stdout, recorded.stderr, recorded.worker_id) == (
        "hello\n",
        "oops\n",
        "worker-1",
    )
    assert executor.calls.created == 1
    wait_for(
        lambda: name not in executor.containers,
        timeout=WAIT_SECONDS,
        what="the ended container to be removed",
    )


@pytest.mark.usefixtures("defined")
def test_given_many_jobs_when_a_worker_runs_them_then_each_gets_one_container(
    store: Store, executor: FakeExecutor, make_worker: WorkerFactory
) -> None:
    worker = make_worker("worker-1")
    worker.start()

    executions = [store.enqueue("shop", "mail", DEFAULT_QUEUE, n) for n in range(8)]
    worker.wake()
    for execution in executions:
        attempt = _running_attempt(store, execution)
        executor.finish(_container_name(store, attempt), 0)
    for execution in executions:
        wait_for(
            _status_is(store, execution, Status.SUCCESS),
            timeout=WAIT_SECONDS,
            what=f"{execution.message_id} done",
        )

    assert executor.calls.created == len(executions)
    wait_for(
        lambda: executor.containers == {},
        timeout=WAIT_SECONDS,
        what="every ended container to be removed",
    )


@pytest.mark.usefixtures("defined")
def test_given_a_running_job_when_the_worker_stops_then_it_returns_fast_and_the_job_lives_on(
    store: Store, executor: FakeExecutor, make_worker: WorkerFactory
) -> None:
    before = set(threading.enumerate())
    first = make_worker("worker-1", shutdown_grace=LONG_GRACE_SECONDS)
    first.start()
    threads = set(threading.enumerate()) - before
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    first.wake()
    attempt = _running_attempt(store, execution)
    name = _container_name(store, attempt)

    # When the worker is stopped while its job runs.
    first.stop()

    # Then it returned with all its threads ended (not waiting for the job, which never
    # ends by itself here), and the job was left alone. (How fast: bench/, not here.)
    assert threads
    assert [thread.name for thread in threads if thread.is_alive()] == []
    container = executor.containers[name]
    assert container.state is ContainerState.RUNNING
    assert container.signals == []
    assert store.get_execution(execution.message_id).status is Status.RUNNING

    # When a second worker starts and the job ends.
    later = store.enqueue("shop", "mail", DEFAULT_QUEUE, {"after": "stop"})
    second = make_worker("worker-2")
    second.start()
    executor.finish(name, 0, stdout="survived")

    # Then the second worker records it, and runs the work enqueued after the stop.
    # (The output is stored just after the ending: wait for both.)
    _recorded(store, execution, Status.SUCCESS, "the second worker to record it")
    (recorded,) = store.attempts_of(execution.id)
    assert recorded.stdout == "survived"
    later_attempt = _running_attempt(store, later)
    assert later_attempt.worker_id == "worker-2"
    assert executor.calls.created == 2


@pytest.mark.usefixtures("defined")
def test_given_an_idle_worker_when_stopped_twice_then_both_return_with_its_threads_ended(
    make_worker: WorkerFactory,
) -> None:
    before = set(threading.enumerate())
    worker = make_worker("worker-1", shutdown_grace=LONG_GRACE_SECONDS)
    worker.start()
    threads = set(threading.enumerate()) - before

    worker.stop()
    worker.stop()

    assert threads
    assert [thread.name for thread in threads if thread.is_alive()] == []


@pytest.mark.usefixtures("defined")
def test_given_an_idle_worker_then_its_runners_look_for_work_once_a_poll_interval_not_in_a_loop(
    make_worker: WorkerFactory, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims: list[object] = []
    real_claim = store.claim

    def counted_claim(*args: object, **kwargs: object) -> object:
        claims.append(None)
        return real_claim(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "claim", counted_claim)
    poll_interval = 0.25
    worker = make_worker("worker-1", poll_interval=poll_interval, runner_threads=2)
    worker.start()
    assert worker.ready.wait(WAIT_SECONDS)
    claims.clear()

    # Over four poll intervals with nothing to do (a window of time is what is measured)
    threading.Event().wait(4 * poll_interval)

    # Each of the two runners looked about once an interval: a few claims, not thousands
    assert len(claims) <= 2 * 4 * 3, len(claims)


@pytest.mark.usefixtures("defined")
def test_given_an_unreachable_engine_when_it_comes_back_then_the_worker_runs_the_job(
    store: Store, executor: FakeExecutor, make_worker: WorkerFactory
) -> None:
    executor.unreachable = True
    worker = make_worker("worker-1")
    worker.start()
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    worker.wake()
    assert store.get_execution(execution.message_id).status is Status.PENDING

    executor.unreachable = False

    attempt = _running_attempt(store, execution)
    executor.finish(_container_name(store, attempt), 0)
    wait_for(
        _status_is(store, execution, Status.SUCCESS),
        timeout=WAIT_SECONDS,
        what="the job to succeed",
    )
    assert executor.calls.created == 1


class _ExitsAtOnce(FakeExecutor):
    """An engine whose containers exit as soon as they start: before the runner stores them."""

    def start(self, spec: RunSpec) -> Started:
        started = super().start(spec)
        self.finish(spec.name, 0, stdout="quick\n")
        return started


def _slow_sweeps(settings: Settings) -> Settings:
    return settings.model_copy(update={"poll_interval": 60.0})


@pytest.mark.usefixtures("defined")
def test_given_rare_sweeps_when_a_container_exits_then_its_exit_event_alone_records_it(
    settings: Settings, store: Store, executor: FakeExecutor
) -> None:
    worker = Worker(_slow_sweeps(settings), store, executor)
    worker.start()
    try:
        wait_for(worker.ready.is_set, timeout=WAIT_SECONDS, what="the worker's first sweep")
        execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
        worker.wake()
        attempt = _running_attempt(store, execution)
        sweeps_before = executor.calls.observe

        executor.finish(_container_name(store, attempt), 0, stdout="done\n")
        wait_for(
            _status_is(store, execution, Status.SUCCESS),
            timeout=WAIT_SECONDS,
            what="the exit to be recorded",
        )

        # No listing of all containers: the event recorded it, then one inspect
        # of that container brought its output and Docker's times.
        wait_for(
            lambda: not store.attempts_of(execution.id)[0].output_pending,
            timeout=WAIT_SECONDS,
            what="its output",
        )
        assert executor.calls.observe == sweeps_before
        assert executor.calls.observe_one == 1
        assert store.attempts_of(execution.id)[0].stdout == "done\n"
    finally:
        worker.stop()


@pytest.mark.usefixtures("defined")
def test_given_jobs_that_exit_before_they_are_stored_as_running_then_each_is_recorded_at_once(
    settings: Settings, store: Store
) -> None:
    executor = _ExitsAtOnce()
    worker = Worker(_slow_sweeps(settings), store, executor)
    worker.start()
    try:
        wait_for(
            lambda: executor.calls.exits == 1,
            timeout=WAIT_SECONDS,
            what="the worker to follow exit events",
        )
        wait_for(worker.ready.is_set, timeout=WAIT_SECONDS, what="the worker's first sweep")
        executions = [store.enqueue("shop", "mail", DEFAULT_QUEUE, n) for n in range(6)]
        worker.wake()

        for execution in executions:
            wait_for(
                _status_is(store, execution, Status.SUCCESS),
                timeout=WAIT_SECONDS,
                what=f"{execution.message_id}",
            )
        # Recorded from the events, whichever came first: no sweep was needed.
        for execution in executions:
            wait_for(_output_stored(store, execution), timeout=WAIT_SECONDS, what="output")
        assert executor.calls.observe == 0
        assert all(store.attempts_of(e.id)[0].stdout == "quick\n" for e in executions)
    finally:
        worker.stop()


def test_given_two_workers_on_one_engine_when_they_start_together_then_both_run(
    settings: Settings, store: Store, executor: FakeExecutor, make_worker: WorkerFactory
) -> None:
    # Given two workers of one engine that each know the other (their first
    # heartbeats went in together), so each asks the other about the engine,
    for worker_id in ("one", "two"):
        store.heartbeat(worker_id, "host-1", executor.engine_id(), None)
    one, two = make_worker("one"), make_worker("two")

    # When both start at once,
    one.start()
    two.start()

    # then each confirms the other's probe and both run; neither takes the other
    # for a clone.
    wait_for(
        lambda: (one.ready.is_set() and two.ready.is_set()) or one.refused or two.refused,
        timeout=4 * settings.heartbeat_interval + WAIT_SECONDS,
        what="both workers to be ready, or one to refuse",
    )
    assert (one.refused, two.refused) == (None, None)


def test_given_a_due_schedule_when_a_worker_runs_then_its_loop_ticks_it_once_into_a_container(
    make_worker: Callable[..., Worker], store: Store, executor: FakeExecutor, defined: None
) -> None:
    # Given a schedule whose tick fell a second ago.
    schedules.create_schedule(
        store, ScheduleCreate(name="every-minute", application="shop", job="mail", cron="* * * * *")
    )
    tick = store.now().replace(second=0, microsecond=0)
    store.update_schedule("every-minute", {"next_tick": tick})

    # When two workers run.
    make_worker("worker-1").start()
    make_worker("worker-2").start()

    # Then one execution is made for the tick, and its container is told the tick.
    schedule = store.get_schedule("every-minute")
    made = wait_for(
        lambda: store.list_executions(ExecutionFilter(schedule_id=schedule.id)).items,
        timeout=30,
        what="the tick's execution",
    )
    started = wait_for(
        lambda: [c.spec for c in executor.containers.values()], timeout=30, what="its container"
    )
    assert started[0].environment["PITMASTER_SCHEDULED_AT"] == tick.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert store.get_schedule("every-minute").next_tick > tick
    assert [e.scheduled_at for e in made] == [tick]
