"""Fixtures for tests against the real Docker engine. A missing engine fails; it never skips."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from pitmaster.executors.docker import DockerExecutor
from pitmaster.models import Execution
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.worker.worker import Worker

ROOT = Path(__file__).resolve().parents[2]
DEMO_IMAGE = "pitmaster-demo:latest"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    subprocess.run([ROOT / "scripts" / "ensure-docker.sh"], check=True)
    subprocess.run([ROOT / "scripts" / "build-demo-image.sh", DEMO_IMAGE], check=True)
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture
def docker_store(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Store]:
    """A fresh SQLite store; every container its attempts made is removed afterwards."""
    store = Store(f"sqlite:///{tmp_path}/pitmaster.db")
    store.migrate()
    store.create_app("demo", DEMO_IMAGE)
    yield store
    label = f"pitmaster.installation={store.installation_id()}"
    for container in docker_client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)
    store.close()


@pytest.fixture
def worker_settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/pitmaster.db",
        poll_interval=0.2,
        lease_seconds=2,
        log_limit_bytes=64 * 1024,
    )


WorkerFactory = Callable[..., Worker]


@pytest.fixture
def start_worker(docker_store: Store, worker_settings: Settings) -> Iterator[WorkerFactory]:
    """Start workers on the real engine; all are stopped at teardown."""
    started: list[tuple[Worker, DockerExecutor]] = []

    def start(**overrides: object) -> Worker:
        settings = worker_settings.model_copy(update=overrides)
        executor = DockerExecutor()
        worker = Worker(settings, docker_store, executor)
        worker.start()
        started.append((worker, executor))
        return worker

    yield start
    for worker, executor in started:
        worker.stop()
        executor.close()


def wait_for(
    condition: Callable[[], Execution | bool | None], timeout: float = 30.0, interval: float = 0.05
) -> object:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def wait_until_ended(store: Store, message_id: str, timeout: float = 30.0) -> Execution:
    def ended() -> Execution | None:
        execution = store.get_execution(message_id)
        return execution if execution.status.is_terminal else None

    result = wait_for(ended, timeout)
    assert isinstance(result, Execution)
    return result
