"""The real ``pitmaster`` command, run as a user would, against the real Docker engine."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ..containers import remove_labelled
from ..databases import ROOT
from ..processes import Deployment

pytestmark = pytest.mark.docker

APPLY_FILE = """
queues:
  - name: mail
    description: outgoing mail
apps:
  - name: shop
    docker_image: pitmaster-demo:latest
    job_definitions:
      - job: greet
        command: [sh, -c, 'echo "hi $BARBEQUE_MESSAGE"; echo warn >&2']
      - job: crash
        command: [sh, -c, 'exit 4']
      - job: nap
        command: [sh, -c, 'while [ ! -e /tmp/release ]; do sleep 0.1; done; echo rested']
"""


@pytest.fixture
def deployment(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Deployment]:
    subprocess.run([ROOT / "scripts" / "build-demo-image.sh"], check=True)
    deployment = Deployment(tmp_path)
    (tmp_path / "pitmaster.yaml").write_text(APPLY_FILE)
    yield deployment
    deployment.stop_all()
    # Remove whatever containers this deployment's database made.
    from pitmaster.store.store import Store

    store = Store(deployment.env["PITMASTER_DATABASE_URL"])
    label = f"pitmaster.installation={store.installation_id()}"
    store.close()
    remove_labelled(docker_client, label)


def test_given_pitmaster_up_when_a_user_applies_enqueues_and_waits_then_the_cli_shows_each_ending(
    deployment: Deployment,
) -> None:
    deployment.wait_healthy(deployment.start("up", "--port", str(deployment.port)))

    applied = deployment.cli("apply", "-f", str(deployment.directory / "pitmaster.yaml"))
    assert "created queue mail" in applied.stdout
    assert "created job definition shop/greet" in applied.stdout
    again = deployment.cli("apply", "-f", str(deployment.directory / "pitmaster.yaml"))
    assert "created" not in again.stdout and "updated" not in again.stdout
    assert again.stdout.count("unchanged") == 5

    greet_id = deployment.cli(
        "enqueue", "shop", "greet", "--message", '{"to": "Zoë"}'
    ).stdout.strip()
    crash_id = deployment.cli("enqueue", "shop", "crash", "--queue", "mail").stdout.strip()

    waited = deployment.cli("status", "--wait", "--timeout", "60", greet_id)
    assert "success" in waited.stdout
    logs = deployment.cli("logs", greet_id).stdout
    assert logs == '--- stdout ---\nhi {"to": "Zoë"}\n--- stderr ---\nwarn\n'

    crashed = deployment.cli("status", "--wait", "--timeout", "60", "--json", crash_id, check=False)
    assert crashed.returncode == 1
    shown = json.loads(crashed.stdout)
    assert (shown["status"], shown["exit_code"], shown["queue"]) == ("failed", 4, "mail")


def test_given_bad_input_when_the_cli_sends_it_then_it_says_what_was_wrong(
    deployment: Deployment,
) -> None:
    deployment.wait_healthy(deployment.start("up", "--port", str(deployment.port)))

    unknown = deployment.cli("enqueue", "nope", "job", check=False)
    assert unknown.returncode == 1
    assert "application 'nope' does not exist" in unknown.stderr

    not_json = deployment.cli("enqueue", "nope", "job", "--message", "{oops", check=False)
    assert not_json.returncode == 2
    assert "not valid JSON" in not_json.stderr


def test_given_separate_server_and_worker_when_the_worker_is_stopped_mid_job_then_the_next_one_records_it(
    deployment: Deployment, docker_client: docker.DockerClient
) -> None:
    deployment.wait_healthy(deployment.start("server", "--port", str(deployment.port)))
    deployment.cli("apply", "-f", str(deployment.directory / "pitmaster.yaml"))
    first_worker = deployment.start("worker")
    nap_id = deployment.cli("enqueue", "shop", "nap").stdout.strip()

    def status() -> str:
        with deployment.api() as api:
            return str(api.get(f"/v1/job_executions/{nap_id}").json()["status"])

    deadline = time.monotonic() + 30
    while status() != "running":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)

    # When the worker gets SIGTERM it exits promptly and leaves the job running.
    stopped_at = time.monotonic()
    first_worker.send_signal(signal.SIGTERM)
    assert first_worker.wait(timeout=10) == 0
    assert time.monotonic() - stopped_at < 3.0
    label = f"pitmaster.execution={nap_id}"
    [container] = docker_client.containers.list(filters={"label": label})
    assert container.status == "running"
    # (The job runs until released, so however slow the machine, it ran through the stop.)
    assert container.exec_run(["touch", "/tmp/release"]).exit_code == 0

    # Then a new worker records how it ended.
    deployment.start("worker")
    result = deployment.cli("status", "--wait", "--timeout", "60", "--json", nap_id)
    shown = json.loads(result.stdout)
    assert shown["status"] == "success"
    assert deployment.cli("logs", nap_id).stdout.startswith("--- stdout ---\nrested\n")
