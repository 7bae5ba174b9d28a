"""Docker's `die` events, received from the real engine, record each ending without a sweep.

The counterpart of ``test_dropped_events.py``: there every event is lost and the
sweeps record everything; here sweeps are 30 s apart, so only the event can
record a job that ends within a few seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Collection

import pytest

from pitmaster.executors.base import Observation
from pitmaster.executors.docker import DockerExecutor, DockerExitStream
from pitmaster.models import Status
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.worker.worker import Worker

from .conftest import wait_until_ended

pytestmark = pytest.mark.docker

RARE_SWEEPS_SECONDS = 30.0
# Well before the next sweep, yet room for a busy machine to start and run the job;
# no listing of containers in between is what proves the event did it.
RECORDED_WITHIN_SECONDS = 20.0


class CountingExecutor(DockerExecutor):
    """The real executor, counting its listings of containers (one per sweep)."""

    def __init__(self) -> None:
        super().__init__()
        self.listings = 0
        self.following = threading.Event()

    def observe(self, handles: Collection[str]) -> dict[str, Observation]:
        self.listings += 1
        return super().observe(handles)

    def exits(self) -> DockerExitStream:
        stream = super().exits()
        self.following.set()
        return stream


def test_given_sweeps_30_s_apart_when_a_short_job_exits_then_its_die_event_records_it_at_once(
    docker_store: Store, worker_settings: Settings
) -> None:
    docker_store.create_job_definition("demo", "quick", ["echo", "done"])
    executor = CountingExecutor()
    settings = worker_settings.model_copy(update={"poll_interval": RARE_SWEEPS_SECONDS})
    worker = Worker(settings, docker_store, executor)
    worker.start()
    try:
        # Given a worker that follows the engine's events (and, with nothing
        # running, has listed no container: its sweeps had nothing to look for).
        assert executor.following.wait(RECORDED_WITHIN_SECONDS)

        # When a short job runs and exits.
        execution = docker_store.enqueue("demo", "quick", "default", None)
        worker.wake()

        # Then its ending and output are recorded within seconds, not at the next
        # sweep 30 s away, and no container was listed in between.
        ended = wait_until_ended(docker_store, execution.message_id, RECORDED_WITHIN_SECONDS)
        assert ended.status is Status.SUCCESS
        assert docker_store.attempts_of(ended.id)[0].stdout == "done\n"
        assert executor.listings == 0
    finally:
        worker.stop()
        executor.close()
