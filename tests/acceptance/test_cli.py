"""The real ``pitmaster`` command, run as a user would, against the real Docker engine."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ..containers import remove_labelled
from ..databases import ROOT
from ..processes import PITMASTER, Deployment
from ..waiting import wait_for

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
        command: [sh, -c, 'echo "try $BARBEQUE_RETRY_COUNT"; exit 4']
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
    assert crashed.returncode == 6  # failed
    shown = json.loads(crashed.stdout)
    assert (shown["status"], shown["exit_code"], shown["queue"]) == ("failed", 4, "mail")

    # When it is retried and fails again, each attempt's output can still be read.
    deployment.cli("retry", crash_id)
    deployment.cli("status", "--wait", "--timeout", "60", crash_id, check=False)
    assert deployment.cli("logs", crash_id).stdout.startswith("--- stdout ---\ntry 1\n")
    first = deployment.cli("logs", crash_id, "--attempt", "0").stdout
    assert first == "--- stdout ---\ntry 0\n--- stderr ---\n"
    missing = deployment.cli("logs", crash_id, "--attempt", "2", check=False)
    assert missing.returncode == 3  # not found
    assert "attempt 2 of this execution does not exist" in missing.stderr


def test_given_bad_input_when_the_cli_sends_it_then_it_says_what_was_wrong(
    deployment: Deployment,
) -> None:
    deployment.wait_healthy(deployment.start("up", "--port", str(deployment.port)))

    unknown = deployment.cli("enqueue", "nope", "job", check=False)
    assert unknown.returncode == 3  # not found
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

    wait_for(lambda: status() == "running", timeout=60, what="the job to run")

    # When the worker gets SIGTERM it exits cleanly and leaves the job running.
    # (How fast is not asserted: a timing fails on a busy machine without any bug.)
    first_worker.send_signal(signal.SIGTERM)
    assert first_worker.wait(timeout=30) == 0
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


FANCY_FILE = r"""
apps:
  - name: shop
    docker_image: pitmaster-demo:latest
    job_definitions:
      - job: fancy
        command: [sh, -c, 'printf "\033[31mred\033[0m \033]8;;http://evil.example/\033\\\\link\033]8;;\033\\\\ secret\rshown\n"']
"""


def _on_a_terminal(deployment: Deployment, *args: str) -> str:
    """What ``pitmaster ARGS`` writes when its stdout is a terminal (a pseudo-terminal)."""
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [*PITMASTER, *args], env=deployment.env, stdout=follower, timeout=60, check=True
        )
        assert result.returncode == 0
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal has no writer any more
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    # The terminal turns each line break into CR LF (onlcr).
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_given_output_with_escape_sequences_when_logs_go_to_a_terminal_then_they_are_inert(
    deployment: Deployment,
) -> None:
    # Given a job whose output colours, links and overwrites a line.
    deployment.wait_healthy(deployment.start("up", "--port", str(deployment.port)))
    (deployment.directory / "fancy.yaml").write_text(FANCY_FILE)
    deployment.cli("apply", "-f", str(deployment.directory / "fancy.yaml"))
    fancy_id = deployment.cli("enqueue", "shop", "fancy").stdout.strip()
    assert "success" in deployment.cli("status", "--wait", "--timeout", "60", fancy_id).stdout

    # When its logs are written to a terminal: no escape sequence, no overwriting CR.
    shown = _on_a_terminal(deployment, "logs", fancy_id)
    assert shown == "--- stdout ---\nred link secret\nshown\n--- stderr ---\n"

    # When asked for --raw, or written into a pipe: the bytes as stored.
    raw = _on_a_terminal(deployment, "logs", "--raw", fancy_id)
    assert "\x1b[31mred" in raw and "\x1b]8;;http://evil.example/" in raw and "secret\rshown" in raw
    piped = deployment.cli("logs", fancy_id).stdout
    assert "\x1b[31mred" in piped and "\x1b]8;;http://evil.example/" in piped
