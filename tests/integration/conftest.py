"""Fixtures for tests against the real Docker engine. A missing engine fails; it never skips."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from pitmaster.executors.docker import DockerExecutor
from pitmaster.models import Execution
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.worker.worker import Worker

from ..containers import remove_labelled
from ..databases import BACKENDS, ROOT, database
from ..processes import Deployment
from ..waiting import wait_for

DEMO_IMAGE = "pitmaster-demo:latest"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    subprocess.run([ROOT / "scripts" / "ensure-docker.sh"], check=True)
    subprocess.run([ROOT / "scripts" / "build-demo-image.sh", DEMO_IMAGE], check=True)
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="session")
def second_engine(docker_client: docker.DockerClient) -> str:
    """The DOCKER_HOST of a second, independent engine holding the demo image (no bridge network).

    If a test run was killed while engine B carried engine A's identity (the
    test of cloned hosts), B gets an identity of its own again first.
    """
    host = engine_host(restart=False)
    identity = "pitmaster-engine-identity"
    engine_b = docker.DockerClient(base_url=host)
    try:
        own = engine_b.volumes.list(filters={"name": identity})
        theirs = docker_client.volumes.list(filters={"name": identity})
        if own and theirs and own[0].attrs["Labels"] == theirs[0].attrs["Labels"]:
            own[0].remove()
    finally:
        engine_b.close()
    return host


def engine_host(*, restart: bool, same_id: bool = False, stop: bool = False) -> str:
    """Start, restart or stop the second engine, with ``scripts/ensure-second-docker.sh``."""
    args = [str(ROOT / "scripts" / "ensure-second-docker.sh")]
    if restart:
        args.append("--restart")
    if same_id:
        args.append("--same-id")
    if stop:
        args.append("--stop")
    result = subprocess.run(args, check=True, capture_output=True, text=True)
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database of each backend in turn: every test here runs on both."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def docker_store(backend_url: str, docker_client: docker.DockerClient) -> Iterator[Store]:
    """A fresh store; every container its attempts made is removed afterwards."""
    store = Store(backend_url)
    store.migrate()
    store.create_app("demo", DEMO_IMAGE)
    yield store
    label = f"pitmaster.installation={store.installation_id()}"
    remove_labelled(docker_client, label)
    store.close()


@pytest.fixture
def worker_settings(backend_url: str) -> Settings:
    return Settings(
        database_url=backend_url,
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
        executor = DockerExecutor(settings.docker_host)
        worker = Worker(settings, docker_store, executor)
        worker.start()
        started.append((worker, executor))
        return worker

    yield start
    for worker, executor in started:
        worker.stop()
        executor.close()


def wait_until_ended(store: Store, message_id: str, timeout: float = 30.0) -> Execution:
    """Wait until the execution ``message_id`` has ended and its output is stored; return it."""
    seen: list[Execution] = []

    def ended() -> Execution | None:
        execution = store.get_execution(message_id)
        seen.append(execution)
        done = execution.status.is_terminal and not execution.output_pending
        return execution if done else None

    last = "never read"
    try:
        return wait_for(ended, timeout=timeout, what=f"execution {message_id} to end")
    except AssertionError:
        if seen:
            last = f"{seen[-1].status.value}, output pending: {seen[-1].output_pending}"
        raise AssertionError(
            f"execution {message_id} did not end in {timeout} s ({last})"
        ) from None


def installation_label(store: Store) -> str:
    return f"pitmaster.installation={store.installation_id()}"


@pytest.fixture
def deployment(tmp_path: Path, backend_url: str, docker_store: Store) -> Iterator[Deployment]:
    """``pitmaster`` processes on this test's database; all stopped at teardown."""
    deployment = Deployment(tmp_path, backend_url)
    yield deployment
    deployment.stop_all()
