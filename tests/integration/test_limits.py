"""Concurrency limits hold under fire: several worker processes, many runner threads, real containers."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import docker
import pytest

from pitmaster.models import Status
from pitmaster.store.store import Store

from ..databases import ROOT
from ..processes import Deployment
from ..waiting import wait_for
from .conftest import installation_label

# Heavy on the engine: one test process runs all such tests, one at a time (docs/testing.md).
pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("engine-heavy")]

APPS = ("shop", "blog")
QUEUES = ("mail", "reports")
QUEUE_LIMIT = 5
APP_LIMIT = 3
JOBS = 120
JOB_SECONDS = 1.0


class RunningSampler:
    """Counts this test's running containers by queue and by app every 100 ms."""

    def __init__(self, client: docker.DockerClient, label: str) -> None:
        self._client = client
        self._label = label
        self._stop = threading.Event()
        self.most_by_queue: Counter[str] = Counter()
        self.most_by_app: Counter[str] = Counter()
        self.samples = 0
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> RunningSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            running = self._client.api.containers(
                filters={"label": self._label, "status": "running"}
            )
            by_queue = Counter(c["Labels"]["pitmaster.queue"] for c in running)
            by_app = Counter(c["Labels"]["pitmaster.app"] for c in running)
            self.most_by_queue |= by_queue
            self.most_by_app |= by_app
            self.samples += 1


def test_given_two_workers_with_four_runners_when_120_jobs_arrive_then_no_limit_is_ever_exceeded(
    docker_store: Store,
    deployment: Deployment,
    docker_client: docker.DockerClient,
    backend_url: str,
) -> None:
    for queue in QUEUES:
        docker_store.create_queue(queue, max_concurrent_executions=QUEUE_LIMIT)
    for app in APPS:
        docker_store.create_app(app, "pitmaster-demo:latest", max_concurrent_executions=APP_LIMIT)
        docker_store.create_job_definition(app, "work", ["sleep", str(JOB_SECONDS)])
    ids = [
        docker_store.enqueue(APPS[n % 2], "work", QUEUES[(n // 2) % 2], n).message_id
        for n in range(JOBS)
    ]

    started = time.monotonic()
    with RunningSampler(docker_client, installation_label(docker_store)) as sampler:
        for _ in range(2):
            deployment.start("worker", env={"PITMASTER_RUNNER_THREADS": "4"})
        wait_for(
            lambda: all(docker_store.get_execution(m).status.is_terminal for m in ids),
            timeout=300,
            interval=0.5,
            what="all 120 jobs to end",
        )
    wall = time.monotonic() - started

    assert sampler.samples > 50
    assert max(sampler.most_by_queue.values()) <= QUEUE_LIMIT, sampler.most_by_queue
    assert max(sampler.most_by_app.values()) <= APP_LIMIT, sampler.most_by_app
    assert all(docker_store.get_execution(m).status is Status.SUCCESS for m in ids)
    ideal = JOBS / (APP_LIMIT * len(APPS)) * JOB_SECONDS
    report = {
        "database": docker_store.dialect,
        "most_running_by_queue": dict(sampler.most_by_queue),
        "most_running_by_app": dict(sampler.most_by_app),
        "queue_limit": QUEUE_LIMIT,
        "app_limit": APP_LIMIT,
        "wall_seconds": round(wall, 1),
        "ideal_seconds": ideal,
        "samples": sampler.samples,
    }
    output = ROOT / "test-output" / f"limits-under-fire-{docker_store.dialect}.json"
    output.parent.mkdir(exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
