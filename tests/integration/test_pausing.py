"""A paused queue or app starts nothing, through a worker's restart, and all of it starts on resume.

Real worker processes and real containers, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from pitmaster.models import Status
from pitmaster.store.store import Store

from ..processes import Deployment
from ..waiting import wait_for

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("engine-heavy")]


def _run_one_elsewhere(store: Store, queue: str) -> None:
    """Enqueue work in a queue that is not paused and wait until it ends: the worker is claiming.

    It is enqueued after the paused work, so a worker that ignored the pause
    would have taken the paused work first.
    """
    probe = store.enqueue("demo", "ok", queue, {}).message_id
    wait_for(
        lambda: store.get_execution(probe).status is Status.SUCCESS,
        timeout=120,
        interval=0.2,
        what="work in an unpaused queue to run",
    )


def test_given_a_paused_queue_when_workers_run_and_restart_then_nothing_starts_until_resumed(
    docker_store: Store, deployment: Deployment
) -> None:
    # Given a paused queue holding work, and a worker.
    docker_store.create_job_definition("demo", "ok", ["true"])
    docker_store.create_queue("held")
    docker_store.create_queue("free")
    docker_store.pause_queue("held", "maintenance")
    held = [docker_store.enqueue("demo", "ok", "held", n, priority=9).message_id for n in range(3)]
    worker = deployment.start("worker")

    # When the worker has run other work, the paused work is still waiting, saying why.
    _run_one_elsewhere(docker_store, "free")
    for message_id in held:
        execution = docker_store.get_execution(message_id)
        assert execution.status is Status.PENDING
        assert docker_store.pending_reason(execution, None, 60) == (
            "queue 'held' is paused: maintenance"
        )

    # And after the worker is stopped and another starts, the pause still holds.
    deployment.stop_all()
    assert worker.poll() is not None
    deployment.start("worker")
    _run_one_elsewhere(docker_store, "free")
    assert all(docker_store.get_execution(m).status is Status.PENDING for m in held)

    # Then, once resumed, all of it runs.
    docker_store.resume_queue("held")
    wait_for(
        lambda: all(docker_store.get_execution(m).status is Status.SUCCESS for m in held),
        timeout=120,
        interval=0.2,
        what="the resumed queue's work to run",
    )


def test_given_a_paused_app_when_a_worker_runs_then_only_other_apps_work_starts_until_resumed(
    docker_store: Store, deployment: Deployment
) -> None:
    docker_store.create_job_definition("demo", "ok", ["true"])
    docker_store.create_app("other", docker_store.get_app("demo").docker_image)
    docker_store.create_job_definition("other", "ok", ["true"])
    docker_store.pause_app("other")
    held = docker_store.enqueue("other", "ok", "default", {}).message_id
    deployment.start("worker")

    _run_one_elsewhere(docker_store, "default")
    assert docker_store.get_execution(held).status is Status.PENDING

    docker_store.resume_app("other")
    wait_for(
        lambda: docker_store.get_execution(held).status is Status.SUCCESS,
        timeout=120,
        interval=0.2,
        what="the resumed app's work to run",
    )
