"""Every worker loop survives an unexpected exception; one that keeps failing makes it unhealthy.

Faults are injected by thread: the engine raises ``RuntimeError`` (not one of
pitmaster's errors, so nothing catches it on purpose) when called from the
named loop's thread, while that loop's fault budget lasts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from pitmaster.executors.base import ContainerState, Logs, Observation
from pitmaster.models import DEFAULT_QUEUE, Status
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.testing import FakeExecutor
from pitmaster.worker.health import health_app
from pitmaster.worker.worker import Worker

from ..waiting import wait_for

WAIT_SECONDS = 15.0


@dataclass
class FaultyExecutor(FakeExecutor):
    """A FakeExecutor whose calls fail from the threads of chosen loops.

    ``faults[(loop, method)]`` is how many more calls of ``method`` from a
    thread of ``loop`` raise; -1 for every call.
    """

    faults: dict[tuple[str, str], int] = field(default_factory=dict)
    fault_lock: threading.Lock = field(default_factory=threading.Lock)

    def _maybe_fail(self, method: str) -> None:
        thread = threading.current_thread().name  # pitmaster-runner-0, pitmaster-poller, ...
        loop = thread.removeprefix("pitmaster-").rsplit("-", 1)[0]
        with self.fault_lock:
            left = self.faults.get((loop, method), 0)
            if left == 0:
                return
            if left > 0:
                self.faults[(loop, method)] = left - 1
        raise RuntimeError(f"injected fault in {method} on the {loop} thread")

    def engine_id(self) -> str:
        self._maybe_fail("engine_id")
        return super().engine_id()

    def ping(self) -> None:
        self._maybe_fail("ping")
        super().ping()

    def exits(self) -> Any:
        self._maybe_fail("exits")
        return super().exits()

    def observe_one(self, handle: str) -> Observation | None:
        self._maybe_fail("observe_one")
        return super().observe_one(handle)

    def observe(self, handles: Collection[str]) -> dict[str, Observation]:
        observed = super().observe(handles)
        with self.fault_lock:
            output_faults_left = self.faults.get(("output", "observe_one"), 0)
        if output_faults_left == 0:
            return observed
        # Until the output loop has met its faults, sweeps see exited containers as
        # still running: the exit event, and so the output loop, must handle the job,
        # however late the loaded machine lets the event's thread run.
        return {
            handle: replace(o, state=ContainerState.RUNNING, exit_code=None, finished_at=None)
            if o.state is ContainerState.EXITED
            else o
            for handle, o in observed.items()
        }

    def logs(self, handle: str, limit: int) -> Logs:
        self._maybe_fail("logs")
        return super().logs(handle, limit)


@pytest.fixture
def executor() -> FaultyExecutor:
    return FaultyExecutor()


@pytest.fixture
def poll_interval() -> float:
    """Seconds between the worker's sweeps; a test that needs other sweeps parametrizes it."""
    return 0.05


@pytest.fixture
def worker(
    settings: Settings, store: Store, executor: FaultyExecutor, poll_interval: float
) -> Iterator[Worker]:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["send-mail"])
    tuned = settings.model_copy(
        update={
            "heartbeat_interval": 0.1,
            "unhealthy_after_failures": 3,
            "poll_interval": poll_interval,
        }
    )
    worker = Worker(tuned, store, executor)
    yield worker
    worker.stop()


def _loop_errors(worker: Worker, loop: str) -> float:
    value = worker.metrics.registry.get_sample_value(
        "pitmaster_worker_loop_errors_total", {"loop": loop}
    )
    return value or 0.0


def _run_one_job(store: Store, executor: FaultyExecutor, worker: Worker) -> None:
    """A job goes from enqueue to its recorded output: every loop it needs is alive."""
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    worker.wake()
    wait_for(lambda: executor.containers, timeout=WAIT_SECONDS, what="the job's container")
    [name] = [n for n, c in executor.containers.items() if c.exit_code is None]
    executor.finish(name, 0, stdout="delivered")

    def recorded() -> bool:
        now = store.get_execution(execution.message_id)
        return now.status is Status.SUCCESS and not now.output_pending

    wait_for(recorded, timeout=WAIT_SECONDS, what="the ending and its output to be recorded")
    [attempt] = store.attempts_of(execution.id)
    assert attempt.stdout == "delivered"


# Sweeps leave an exit younger than min(poll_interval, 1 s) to the exit event, whose
# output the output loop then reads. With the usual 50 ms sweeps a sweep often records
# the exit and its output first, and the output loop never runs: the output case sweeps
# every 2 s, so the output loop has the whole second to act.
OUTPUT_LOOP_POLL_INTERVAL = 2.0


@pytest.mark.parametrize(
    ("loop", "method", "faults", "poll_interval"),
    [
        ("runner", "engine_id", 2, 0.05),
        ("poller", "engine_id", 2, 0.05),
        ("watcher", "exits", 2, 0.05),
        # A failed output task is not tried again by the output loop: the sweep collects it.
        ("output", "observe_one", 1, OUTPUT_LOOP_POLL_INTERVAL),
        ("heartbeat", "ping", 2, 0.05),
    ],
)
def test_given_an_unexpected_exception_in_a_loop_then_it_is_counted_and_the_loop_runs_on(
    loop: str, method: str, faults: int, store: Store, executor: FaultyExecutor, worker: Worker
) -> None:
    # Given a loop that meets unexpected exceptions,
    executor.faults[(loop, method)] = faults
    worker.start()

    # When a job runs after that (the output loop meets its faults on this very job),
    if loop != "output":
        wait_for(
            lambda: executor.faults[(loop, method)] == 0,
            timeout=WAIT_SECONDS,
            what=f"the {loop} to meet its faults",
        )
    _run_one_job(store, executor, worker)

    # Then each failure was counted for that loop, and the worker stayed healthy.
    assert _loop_errors(worker, loop) == faults
    assert worker.supervisor.unhealthy_reason() is None


def test_given_a_loop_that_keeps_failing_then_the_worker_reports_itself_unhealthy_until_it_recovers(
    store: Store, executor: FaultyExecutor, worker: Worker
) -> None:
    # Given the poller failing on every sweep,
    executor.faults[("poller", "engine_id")] = -1
    worker.start()

    # Then after three failures in a row the worker is unhealthy: in its heartbeat, and on /healthz.
    def unhealthy_row() -> bool:
        return any(not row.healthy for row in store.list_workers())

    wait_for(unhealthy_row, timeout=WAIT_SECONDS, what="the heartbeat to say unhealthy")
    [row] = store.list_workers()
    assert row.unhealthy_reason is not None
    assert "poller failed" in row.unhealthy_reason
    assert "injected fault in engine_id" in row.unhealthy_reason
    status, body = _healthz(worker)
    assert status.startswith("503")
    assert "poller failed" in body["error"]

    # When the fault clears, the next sweep succeeds and the worker is healthy again.
    with executor.fault_lock:
        executor.faults[("poller", "engine_id")] = 0

    def healthy_row() -> bool:
        return all(row.healthy for row in store.list_workers())

    wait_for(healthy_row, timeout=WAIT_SECONDS, what="the heartbeat to say healthy again")
    assert _healthz(worker)[0].startswith("200")


def _healthz(worker: Worker) -> tuple[str, dict[str, str]]:
    answer: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"] = status

    body = b"".join(health_app(worker)({"PATH_INFO": "/healthz"}, start_response))
    return answer["status"], json.loads(body)


def test_given_the_health_port_then_metrics_are_served_beside_healthz(worker: Worker) -> None:
    seen: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = status

    environ = {"PATH_INFO": "/metrics", "REQUEST_METHOD": "GET", "QUERY_STRING": ""}
    body = b"".join(health_app(worker)(environ, start_response))
    assert seen["status"].startswith("200")
    assert b"pitmaster_worker_loop_errors" in body
