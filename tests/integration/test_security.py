"""Hostile jobs in real containers: fork bombs, setuid escalation, the Docker socket, the network.

Each job here tries something a job must not manage, on the real engine, and
the test checks both what the job saw from inside and what the engine says of
its container. Where the engine's own default would let the attempt succeed,
a control container run without pitmaster's settings shows that the test can
tell the difference.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator

import docker
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pitmaster.app_secrets import SECRETS_PER_APP_MAX, SecretBox, new_key
from pitmaster.models import Attempt, Status
from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from ..containers import labelled
from ..credentials import ADMIN, ADMIN_TOKEN
from ..databases import dump_all_rows
from ..waiting import wait_for
from .conftest import DEMO_IMAGE, WorkerFactory, wait_until_ended

pytestmark = pytest.mark.docker

# A job that must be looked at while it runs waits for this file; the test
# creates it (docker exec) once it has inspected the container.
RELEASE = "while [ ! -e /tmp/release ]; do sleep 0.1; done"


def _running_attempt(store: Store, message_id: str) -> Attempt:
    def running() -> Attempt | None:
        execution = store.get_execution(message_id)
        assert not execution.status.is_terminal, f"ended early: {execution.reason}"
        attempts = store.attempts_of(execution.id)
        if execution.status is Status.RUNNING and attempts[-1].container_id:
            return attempts[-1]
        return None

    attempt = wait_for(running, timeout=30, what=f"execution {message_id} to run")
    assert isinstance(attempt, Attempt)
    return attempt


def _release(docker_client: docker.DockerClient, attempt: Attempt) -> None:
    assert attempt.container_id is not None
    container = docker_client.containers.get(attempt.container_id)
    assert container.exec_run(["touch", "/tmp/release"]).exit_code == 0


def _output(store: Store, message_id: str) -> Attempt:
    attempts = store.attempts_of(store.get_execution(message_id).id)
    return attempts[-1]


@pytest.fixture
def control_containers(docker_client: docker.DockerClient) -> Iterator[list[str]]:
    """Names of containers a test runs by hand, without pitmaster; removed at teardown."""
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(name).remove(force=True)


SECRET = "sk-live-7d1f0c2e9b-pitmaster-secret"


# -- processes ------------------------------------------------------------------------


@pytest.mark.xdist_group("engine-heavy")
def test_given_a_fork_bomb_when_it_runs_then_the_pids_limit_stops_it_and_the_host_keeps_working(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    # Each call starts two more in the background, without end, until forks fail. The
    # job's own shell then waits for the test using builtins only (no fork), so that
    # the container can be looked at while the bomb goes off.
    bomb = (
        "mkfifo /tmp/tick && exec 3<>/tmp/tick; bomb() { bomb | bomb & }; bomb;"
        " while [ ! -e /tmp/release ]; do read -t 1 x <&3; done; echo survived"
    )
    docker_store.create_job_definition(
        "demo",
        "bomb",
        ["sh", "-c", bomb],
        pids_limit=64,
        cpus=0.5,
        memory=64 * 1024**2,
        # Only as a backstop: the test, not a timeout, ends the bomb, however loaded the host.
        timeout_seconds=900,
        stop_grace_seconds=1,
    )
    docker_store.create_job_definition("demo", "hello", ["echo", "still here"])
    bombing = docker_store.enqueue("demo", "bomb", "default", None)
    start_worker()
    attempt = _running_attempt(docker_store, bombing.message_id)
    assert attempt.container_id is not None
    container = docker_client.containers.get(attempt.container_id)

    host = container.attrs["HostConfig"]
    assert host["PidsLimit"] == 64
    assert host["NanoCpus"] == 500_000_000
    stats = container.stats(stream=False)
    assert isinstance(stats, dict)
    assert stats["pids_stats"].get("current", 0) <= 64
    # With the bomb's container there, the engine answers and another job runs to its end.
    assert docker_client.ping()
    other = docker_store.enqueue("demo", "hello", "default", None)
    assert wait_until_ended(docker_store, other.message_id).status is Status.SUCCESS
    assert _output(docker_store, other.message_id).stdout == "still here\n"
    _release(docker_client, attempt)

    ended = wait_until_ended(docker_store, bombing.message_id)

    assert ended.status is Status.SUCCESS, ended.reason
    finished = _output(docker_store, bombing.message_id)
    assert finished.stdout == "survived\n"
    assert "can't fork" in (finished.stderr or "")  # the limit is what stopped the bomb
    assert docker_client.ping()


# -- privileges -----------------------------------------------------------------------

# As root in the container: make a setuid-root copy of busybox and give root an
# empty password, so that `su` through that copy would make anyone root. Then, as
# nobody, try it: escalating means writing a file only root may write.
ESCALATE = """
mkdir /tmp/suid && cp /bin/busybox /tmp/suid/busybox && chmod 4755 /tmp/suid/busybox
sed -i 's/^root:x:/root::/' /etc/passwd
su -s /bin/sh nobody -c '
  echo "as $(id -u) $(grep NoNewPrivs /proc/self/status | tr -d "\\t")"
  /tmp/suid/busybox su -s /bin/sh root -c "touch /etc/escalated" </dev/null
'
if [ -e /etc/escalated ]; then echo escalated; else echo not-escalated; fi
"""


def test_given_a_job_using_a_setuid_root_binary_when_run_then_it_gains_no_privileges(
    docker_store: Store,
    start_worker: WorkerFactory,
    docker_client: docker.DockerClient,
    control_containers: list[str],
) -> None:
    docker_store.create_job_definition("demo", "escalate", ["sh", "-c", ESCALATE])
    execution = docker_store.enqueue("demo", "escalate", "default", None)
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    attempt = _output(docker_store, execution.message_id)
    assert attempt.stdout is not None
    assert attempt.stdout.splitlines() == ["as 65534 NoNewPrivs:1", "not-escalated"], (
        attempt.stdout,
        attempt.stderr,
    )
    assert "must be suid" in (attempt.stderr or "")  # the kernel ignored the setuid bit
    assert ended.status is Status.SUCCESS
    # The control: the same script in a container without no-new-privileges escalates,
    # so the outcome above is pitmaster's doing, not busybox's or the engine's.
    name = f"pitmaster-test-control-{docker_store.installation_id()}"
    control_containers.append(name)
    control = docker_client.containers.run(DEMO_IMAGE, ["sh", "-c", ESCALATE], name=name)
    assert control.decode().splitlines() == ["as 65534 NoNewPrivs:0", "escalated"]


def test_given_a_job_when_it_looks_for_the_docker_socket_or_host_mounts_then_it_finds_none(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    script = (
        "for s in /var/run/docker.sock /run/docker.sock; do [ -e $s ] && echo found $s; done;"
        " grep -c docker.sock /proc/self/mountinfo;"
        " grep -E ' / /(etc|var|home|root|usr)[ /]' /proc/self/mountinfo | grep -vc overlay;"
        f" echo looked; {RELEASE}"
    )
    docker_store.create_job_definition("demo", "snoop", ["sh", "-c", script])
    execution = docker_store.enqueue("demo", "snoop", "default", None)
    start_worker()
    attempt = _running_attempt(docker_store, execution.message_id)
    assert attempt.container_id is not None

    attrs = docker_client.containers.get(attempt.container_id).attrs
    _release(docker_client, attempt)

    assert attrs["Mounts"] == []
    host = attrs["HostConfig"]
    assert host["Privileged"] is False
    assert not host.get("Binds") and not host.get("Mounts") and not host.get("VolumesFrom")
    assert not host.get("Devices") and not host.get("CapAdd")
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["NetworkMode"] in ("default", "bridge")
    ended = wait_until_ended(docker_store, execution.message_id)
    stdout = _output(docker_store, execution.message_id).stdout
    assert stdout == "0\n0\nlooked\n", stdout  # no socket, no socket mount, no host mount
    assert ended.status is Status.SUCCESS


# -- network ------------------------------------------------------------------------


def test_given_network_none_when_the_job_runs_then_it_has_no_interface_but_lo_and_no_route(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    # The control first: on the engine's bridge the same image does have eth0, and
    # the engine tells a container on a network its gateway (the network's IPAM
    # config need not name one: engines that pick the address themselves leave it out).
    docker_store.create_job_definition(
        "demo", "online", ["sh", "-c", f"ls /sys/class/net; {RELEASE}"]
    )
    online = docker_store.enqueue("demo", "online", "default", None)
    start_worker()
    attempt = _running_attempt(docker_store, online.message_id)
    assert attempt.container_id is not None
    networks = docker_client.containers.get(attempt.container_id).attrs["NetworkSettings"]
    gateway = networks["Networks"]["bridge"]["Gateway"]
    assert gateway, networks
    _release(docker_client, attempt)

    # Without a route the kernel refuses the connection at once: no packet leaves.
    script = (
        "ls /sys/class/net; echo routes: $(ip route | wc -l);"
        f" nc -w 2 {gateway} 80 </dev/null 2>&1; echo nc: $?"
    )
    docker_store.create_job_definition("demo", "offline", ["sh", "-c", script], network="none")
    offline = docker_store.enqueue("demo", "offline", "default", None)

    assert wait_until_ended(docker_store, offline.message_id).status is Status.SUCCESS
    assert wait_until_ended(docker_store, online.message_id).status is Status.SUCCESS

    stdout = _output(docker_store, offline.message_id).stdout or ""
    lines = stdout.splitlines()
    assert lines[0] == "lo"
    assert "routes: 0" in lines
    assert "Network is unreachable" in stdout
    assert lines[-1] == "nc: 1"
    assert "eth0" in (_output(docker_store, online.message_id).stdout or "").split()


def test_given_a_network_that_does_not_exist_when_the_job_starts_then_error_naming_it(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    docker_store.create_job_definition(
        "demo", "lost", ["true"], network="pitmaster-test-no-such-network"
    )
    execution = docker_store.enqueue("demo", "lost", "default", None)
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.ERROR
    assert ended.reason is not None
    assert "pitmaster-test-no-such-network" in ended.reason
    assert "not found" in ended.reason
    label = f"pitmaster.installation={docker_store.installation_id()}"
    wait_for(
        lambda: labelled(docker_client, label) == [],
        timeout=30,
        what="every container to be removed",
    )


def test_given_more_cpus_than_the_engine_has_when_the_job_starts_then_error_with_its_message(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    available = int(docker_client.info()["NCPU"])
    docker_store.create_job_definition("demo", "greedy", ["true"], cpus=available + 1.0)
    execution = docker_store.enqueue("demo", "greedy", "default", None)
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.ERROR
    assert ended.reason is not None
    assert "CPU" in ended.reason, ended.reason  # the engine's own words
    label = f"pitmaster.installation={docker_store.installation_id()}"
    wait_for(
        lambda: labelled(docker_client, label) == [],
        timeout=30,
        what="every container to be removed",
    )


def test_given_a_named_network_when_the_job_runs_then_its_container_is_on_it(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    name = f"pitmaster-test-{docker_store.installation_id()}"
    network = docker_client.networks.create(name, internal=True)
    try:
        docker_store.create_job_definition(
            "demo", "inside", ["sh", "-c", f"ls /sys/class/net; {RELEASE}"], network=name
        )
        execution = docker_store.enqueue("demo", "inside", "default", None)
        start_worker()
        attempt = _running_attempt(docker_store, execution.message_id)
        assert attempt.container_id is not None
        attrs = docker_client.containers.get(attempt.container_id).attrs
        _release(docker_client, attempt)

        assert attrs["HostConfig"]["NetworkMode"] == name
        assert list(attrs["NetworkSettings"]["Networks"]) == [name]
        assert wait_until_ended(docker_store, execution.message_id).status is Status.SUCCESS
    finally:
        network.remove()


# -- images ---------------------------------------------------------------------------


def test_given_an_image_the_worker_no_longer_allows_when_its_job_starts_then_error_and_no_container(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    docker_store.create_job_definition("demo", "hello", ["echo", "hi"])
    execution = docker_store.enqueue("demo", "hello", "default", None)
    start_worker(allowed_images="registry.example.com/")

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.ERROR
    assert ended.reason is not None
    assert f"'{DEMO_IMAGE}' is not allowed" in ended.reason
    assert docker_store.attempts_of(ended.id)[-1].container_id is None
    label = f"pitmaster.installation={docker_store.installation_id()}"
    assert labelled(docker_client, label) == []


def test_given_an_allow_list_when_an_apps_image_is_an_id_then_the_worker_refuses_it(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    # Given an app whose image is the demo image's ID (set before the allow-list was),
    image_id = docker_client.images.get(DEMO_IMAGE).id
    docker_store.update_app("demo", {"docker_image": image_id})
    docker_store.create_job_definition("demo", "hello", ["echo", "hi"])
    execution = docker_store.enqueue("demo", "hello", "default", None)
    # when a worker allowing the official images and the demo image takes it,
    start_worker(allowed_images="docker.io/library/,pitmaster-demo")

    # then the execution ends error saying why, and no container was made.
    ended = wait_until_ended(docker_store, execution.message_id)
    assert ended.status is Status.ERROR
    assert ended.reason is not None and "image ID" in ended.reason
    label = f"pitmaster.installation={docker_store.installation_id()}"
    assert docker_client.containers.list(all=True, filters={"label": label}) == []


# -- secrets -------------------------------------------------------------------------


def test_given_an_app_with_secrets_and_a_worker_without_the_key_then_error_and_no_container(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    key = new_key()
    sealed = SecretBox(key).seal("demo", "API_TOKEN", SECRET)
    docker_store.put_secret("demo", "API_TOKEN", sealed, SECRETS_PER_APP_MAX)
    docker_store.create_job_definition("demo", "hello", ["echo", "hi"])
    execution = docker_store.enqueue("demo", "hello", "default", None)
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.ERROR
    assert ended.reason is not None and "PITMASTER_SECRETS_KEY" in ended.reason
    assert SECRET not in ended.reason
    label = f"pitmaster.installation={docker_store.installation_id()}"
    assert labelled(docker_client, label) == []


def test_given_an_apps_secret_when_its_job_runs_then_it_reads_the_file_and_the_value_is_nowhere_else(
    docker_store: Store,
    start_worker: WorkerFactory,
    docker_client: docker.DockerClient,
    worker_settings: Settings,
    backend_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = new_key()
    settings = worker_settings.model_copy(update={"secrets_key": SecretStr(key)})
    answers: list[str] = []
    settings = settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    tokens.ensure_admin_tokens(settings, docker_store)
    with TestClient(create_app(settings, docker_store), headers=ADMIN) as api:
        put = api.put("/v1/apps/demo/secrets/API_TOKEN", json={"value": SECRET})
        assert put.status_code == 201, put.text
        answers.append(put.text)
        # The job proves it read the value (its digest) without printing it.
        script = (
            "sha256sum /run/secrets/API_TOKEN | cut -c1-64;"
            " stat -c '%a %U' /run/secrets/API_TOKEN;"
            ' if env | grep -qF "$(cat /run/secrets/API_TOKEN)"; then echo in-env; else echo not-in-env; fi;'
            f" {RELEASE}"
        )
        docker_store.create_job_definition("demo", "uses-secret", ["sh", "-c", script])
        execution = docker_store.enqueue("demo", "uses-secret", "default", {"hello": 1})
        start_worker(secrets_key=SecretStr(key))
        attempt = _running_attempt(docker_store, execution.message_id)
        assert attempt.container_id is not None
        inspected = json.dumps(docker_client.api.inspect_container(attempt.container_id))
        _release(docker_client, attempt)
        ended = wait_until_ended(docker_store, execution.message_id)
        for path in (
            f"/v1/job_executions/{execution.message_id}?fields=__default__,message,stdout,stderr,attempts",
            "/v1/apps/demo/secrets",
            "/v1/apps/demo",
            "/v1/apps/demo/job_definitions/uses-secret",
            f"/job_executions/{execution.message_id}",
            "/apps/demo",
        ):
            response = api.get(path)
            assert response.status_code == 200, path
            answers.append(response.text)

    assert ended.status is Status.SUCCESS, ended.reason
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    finished = _output(docker_store, execution.message_id)
    assert finished.stdout == f"{digest}\n444 root\nnot-in-env\n", finished.stderr
    assert attempt.container_id in inspected  # the inspection is of the job's container ...
    assert SECRET not in inspected  # ... and holds no value
    assert all(SECRET not in answer for answer in answers)
    assert SECRET not in (finished.stdout or "") + (finished.stderr or "")
    assert SECRET not in dump_all_rows(backend_url)
    assert SECRET not in caplog.text
