"""Idle workers on PostgreSQL start new work at once, without waiting for their poll interval."""

from __future__ import annotations

import pytest

from pitmaster.models import Status
from pitmaster.store.store import Store

from ..waiting import wait_for
from .conftest import WorkerFactory

pytestmark = pytest.mark.docker

LONG_POLL = 120.0  # far longer than the test waits: only a notification can start the job


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_given_an_idle_worker_with_a_long_poll_when_work_is_enqueued_then_it_starts_at_once(
    docker_store: Store, start_worker: WorkerFactory
) -> None:
    docker_store.create_job_definition("demo", "hello", ["echo", "hello"])
    start_worker(poll_interval=LONG_POLL)
    # Given the worker has looked for work once and found none, and gone idle,
    first = docker_store.enqueue("demo", "hello", "default", None)
    wait_for(
        lambda: docker_store.get_execution(first.message_id).status is not Status.PENDING,
        timeout=30,
        what="the first job to start",
    )

    # when more work arrives, it is started long before the next poll would find it.
    second = docker_store.enqueue("demo", "hello", "default", None)
    wait_for(
        lambda: docker_store.get_execution(second.message_id).status is not Status.PENDING,
        timeout=15,
        what="the second job to start without waiting for a poll",
    )
