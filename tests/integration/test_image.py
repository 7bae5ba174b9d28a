"""The pitmaster image as people deploy it: server and worker containers on PostgreSQL.

The image is built once per content (scripts/build-image.sh tags it by a hash
of what goes in, so a second run reuses it); every test of it runs in the one
xdist group "image", so one process builds it. The containers use the host's
network: PostgreSQL (scripts/ensure-postgres.sh) listens on the host's loopback.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container

import pitmaster
from pitmaster.client import Client
from pitmaster.job import EXIT_BAD_MESSAGE
from pitmaster.store.store import Store

from ..containers import remove_labelled
from ..credentials import ADMIN_TOKEN
from ..databases import ROOT, postgres_database
from ..processes import free_port
from ..waiting import wait_for
from .conftest import DEMO_IMAGE

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("image")]

DOCKER_SOCKET = "/var/run/docker.sock"
SDK_JOB_COMMAND = ["/opt/pitmaster/bin/python", "/app/jobs.py"]


@pytest.fixture(scope="session")
def pitmaster_image(docker_client: docker.DockerClient) -> str:
    result = subprocess.run(
        [ROOT / "scripts" / "build-image.sh"], check=True, capture_output=True, text=True
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def sdk_job_image(docker_client: docker.DockerClient, pitmaster_image: str) -> str:
    """A job image made with the job SDK, on the debootstrap base."""
    tag = f"pitmaster-sdk-job:{pitmaster_image.rsplit(':', 1)[1]}"
    for image in docker_client.images.list(name="pitmaster-sdk-job"):
        for older in set(image.tags) - {tag}:
            docker_client.images.remove(older)  # untags: builds of other content
    if not docker_client.images.list(name=tag):
        docker_client.images.build(
            path=str(Path(__file__).parent / "job_image"),
            tag=tag,
            buildargs={"PITMASTER_IMAGE": pitmaster_image},
            rm=True,
        )
    return tag


@dataclass
class ImageDeployment:
    client: Client
    server: Container
    worker: Container


def _run(
    docker_client: docker.DockerClient, image: str, command: str, env: dict[str, str], **extra
) -> Container:
    container: Container = docker_client.containers.run(
        image,
        [command],
        name=f"pitmaster-image-test-{command}-{uuid.uuid4().hex[:8]}",
        environment=env,
        network_mode="host",
        detach=True,
        **extra,
    )
    return container


@pytest.fixture(scope="module")
def deployment(
    docker_client: docker.DockerClient, pitmaster_image: str
) -> Iterator[ImageDeployment]:
    """A server and a worker from the image on a new PostgreSQL database the server migrates."""
    with postgres_database(migrated=False) as database_url:
        port = free_port()
        env = {
            "PITMASTER_DATABASE_URL": database_url,
            "PITMASTER_ADMIN_TOKEN": ADMIN_TOKEN,
            "PITMASTER_POLL_INTERVAL": "0.2",
            "PITMASTER_PORT": str(port),
        }
        containers: list[Container] = []
        client = Client(f"http://127.0.0.1:{port}", token=ADMIN_TOKEN)
        try:
            containers.append(_run(docker_client, pitmaster_image, "server", env))
            wait_for(client.healthy, timeout=90, interval=0.2, what="the server's /healthz")
            # The worker reaches the engine through its socket: a privileged choice, as
            # anyone who can use the socket is root on the host (docs/deploy.md).
            socket_group = str(Path(DOCKER_SOCKET).stat().st_gid)
            containers.append(
                _run(
                    docker_client,
                    pitmaster_image,
                    "worker",
                    {**env, "PITMASTER_METRICS_PORT": str(free_port())},
                    volumes={DOCKER_SOCKET: {"bind": DOCKER_SOCKET, "mode": "rw"}},
                    group_add=[socket_group],
                )
            )
            yield ImageDeployment(client, containers[0], containers[1])
        finally:
            for container in containers:
                container.remove(force=True, v=True)
            store = Store(database_url)
            try:
                remove_labelled(docker_client, f"pitmaster.installation={store.installation_id()}")
            finally:
                store.close()
            client.close()


def _health(container: Container) -> str | None:
    container.reload()
    status: str = container.attrs["State"].get("Health", {}).get("Status", "")
    return status if status in {"healthy", "unhealthy"} else None


def test_given_the_image_when_asked_its_version_then_it_runs_as_a_non_root_user(
    docker_client: docker.DockerClient, pitmaster_image: str
):
    version = docker_client.containers.run(pitmaster_image, ["--version"], remove=True)
    user = docker_client.images.get(pitmaster_image).attrs["Config"]["User"]

    assert version.decode().strip() == pitmaster.__version__
    assert user == "pitmaster"


def test_given_server_and_worker_containers_when_started_then_docker_reports_both_healthy(
    deployment: ImageDeployment,
):
    for container in (deployment.server, deployment.worker):
        status = wait_for(partial(_health, container), timeout=120, interval=0.5)
        assert status == "healthy", container.logs().decode()[-2000:]


def test_given_the_image_deployment_when_a_job_is_enqueued_then_it_runs_to_success(
    deployment: ImageDeployment,
):
    client = deployment.client
    client.create_app("image-demo", DEMO_IMAGE)
    client.create_job_definition("image-demo", "echo", ["sh", "-c", 'echo "got $BARBEQUE_MESSAGE"'])

    sent = client.enqueue("image-demo", "echo", {"n": 1})
    ended = client.wait(sent["message_id"], fields="__default__,stdout", timeout=120)

    assert ended["status"] == "success", ended
    assert ended["stdout"] == 'got {"n": 1}\n'


def test_given_a_job_made_with_the_sdk_when_run_by_pitmaster_then_typed_messages_decide_its_end(
    deployment: ImageDeployment, sdk_job_image: str
):
    client = deployment.client
    client.create_app("sdk", sdk_job_image)
    client.create_job_definition("sdk", "greet", SDK_JOB_COMMAND, message_delivery="file")

    good = client.enqueue("sdk", "greet", {"name": "pit", "times": 2})
    bad = client.enqueue("sdk", "greet", {"times": "many"})
    greeted = client.wait(good["message_id"], fields="__default__,stdout", timeout=120)
    refused = client.wait(bad["message_id"], fields="__default__,stderr,exit_code", timeout=120)

    assert greeted["status"] == "success", greeted
    line = f"hello pit (retry 0, message {good['message_id']})\n"
    assert greeted["stdout"] == line * 2
    assert refused["status"] == "failed", refused
    assert "pitmaster.job: bad message: name: Field required" in refused["stderr"]
    assert refused["exit_code"] == EXIT_BAD_MESSAGE
