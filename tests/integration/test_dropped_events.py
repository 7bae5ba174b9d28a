"""Docker's events only hasten the poller: with every event lost, each ending is still recorded."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pitmaster.executors.base import ExitEvent
from pitmaster.executors.docker import DockerExecutor
from pitmaster.models import Status
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.worker.worker import Worker

from ..waiting import wait_for

# Heavy on the engine: one test process runs all such tests, one at a time (docs/testing.md).
pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("engine-heavy")]


class SilentStream:
    """An event stream that never delivers anything, as if every event were dropped."""

    def __init__(self) -> None:
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[ExitEvent]:
        self._closed.wait()
        return iter(())

    def close(self) -> None:
        self._closed.set()


class DeafExecutor(DockerExecutor):
    def exits(self) -> SilentStream:  # type: ignore[override]
        return SilentStream()


def test_given_no_events_reach_the_worker_when_50_containers_exit_then_every_one_is_recorded(
    docker_store: Store, worker_settings: Settings
) -> None:
    docker_store.create_job_definition(
        "demo", "blink", ["sh", "-c", "sleep 1; echo $BARBEQUE_MESSAGE"]
    )
    ids = [docker_store.enqueue("demo", "blink", "default", n).message_id for n in range(50)]
    executor = DeafExecutor()
    settings = worker_settings.model_copy(update={"runner_threads": 4, "poll_interval": 0.5})
    worker = Worker(settings, docker_store, executor)
    worker.start()
    try:
        wait_for(
            lambda: all(docker_store.get_execution(m).status.is_terminal for m in ids),
            timeout=180,
            interval=0.5,
            what="every job to end",
        )
    finally:
        worker.stop()
        executor.close()
    for number, message_id in enumerate(ids):
        execution = docker_store.get_execution(message_id)
        assert execution.status is Status.SUCCESS
        [attempt] = docker_store.attempts_of(execution.id)
        assert attempt.stdout == f"{number}\n"
        assert attempt.recorded_at is not None and attempt.finished_at is not None
