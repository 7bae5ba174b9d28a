"""The CLI for a day on call: exit codes, --json, and following a running job's output.

The real ``pitmaster`` command against ``pitmaster up`` and the real Docker engine.
"""

from __future__ import annotations

import json
import select
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import docker
import pytest

from ..containers import remove_labelled
from ..databases import ROOT
from ..processes import PITMASTER, Deployment, free_port

pytestmark = pytest.mark.docker

JOBS = """
apps:
  - name: shop
    docker_image: pitmaster-demo:latest
    job_definitions:
      - job: greet
        command: [sh, -c, 'echo "hi"; echo warn >&2']
      - job: crash
        command: [sh, -c, 'echo "try $BARBEQUE_RETRY_COUNT"; exit 4']
      - job: broken
        command: [/no/such/program]
      - job: talk
        command:
          - sh
          - -c
          - 'echo one; while [ ! -e /tmp/release ]; do sleep 0.1; done; echo two; echo bye >&2'
topics:
  - name: orders
    subscriptions:
      - application: shop
        job: greet
"""


@pytest.fixture
def deployment(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Deployment]:
    subprocess.run([ROOT / "scripts" / "build-demo-image.sh"], check=True)
    deployment = Deployment(tmp_path)
    (tmp_path / "pitmaster.yaml").write_text(JOBS)
    deployment.wait_healthy(deployment.start("up", "--port", str(deployment.port)))
    deployment.cli("apply", "-f", str(tmp_path / "pitmaster.yaml"))
    yield deployment
    deployment.stop_all()
    from pitmaster.store.store import Store

    store = Store(deployment.env["PITMASTER_DATABASE_URL"])
    label = f"pitmaster.installation={store.installation_id()}"
    store.close()
    remove_labelled(docker_client, label)


def _code(deployment: Deployment, *args: str) -> int:
    return deployment.cli(*args, check=False).returncode


def test_given_each_way_a_command_can_end_then_each_has_its_own_exit_code(
    deployment: Deployment,
) -> None:
    def enqueue(job: str, *options: str) -> str:
        return deployment.cli("enqueue", "shop", job, *options).stdout.strip()

    greet, crash, broken = enqueue("greet"), enqueue("crash"), enqueue("broken")
    later = enqueue("greet", "--delay", "3600")
    cancelled = enqueue("greet", "--delay", "3600")
    deployment.cli("cancel", cancelled)
    wait = ("status", "--wait", "--timeout", "60")

    assert _code(deployment, *wait, greet) == 0
    assert _code(deployment, "retry", later) == 1  # refused: a waiting execution (409)
    assert _code(deployment, "enqueue", "shop", "greet", "--message", "{oops") == 2
    assert _code(deployment, "status", str(uuid.uuid4())) == 3
    unreachable = f"http://127.0.0.1:{free_port()}"
    assert _code(deployment, "status", greet, "--url", unreachable) == 4
    assert _code(deployment, "status", "--wait", "--timeout", "0.5", later) == 5
    assert _code(deployment, *wait, crash) == 6
    assert _code(deployment, *wait, broken) == 7
    assert _code(deployment, *wait, cancelled) == 8
    # Not only status --wait: logs --follow ends the same way.
    assert _code(deployment, "logs", "--follow", "--timeout", "60", crash) == 6


def test_given_json_asked_then_every_command_prints_json_that_parses_back(
    deployment: Deployment,
) -> None:
    def as_json(*args: str) -> Any:
        return json.loads(deployment.cli(*args, "--json").stdout)

    message_id = as_json("enqueue", "shop", "greet")["message_id"]
    waited = as_json("status", "--wait", "--timeout", "60", message_id)
    assert waited["status"] == "success"
    assert [a["number"] for a in waited["attempts"]] == [0]
    assert as_json("logs", message_id) == {"stdout": "hi\n", "stderr": "warn\n"}
    listed = as_json("list", "--app", "shop")
    assert listed[0]["message_id"] == message_id
    later = as_json("enqueue", "shop", "greet", "--delay", "3600")["message_id"]
    assert as_json("cancel", later)["status"] == "cancelled"
    assert as_json("retry", later, "--delay", "3600")["status"] == "pending"
    assert as_json("retry-all", "--app", "shop", "--status", "cancelled") == {"retried": 0}

    [worker] = as_json("workers")
    assert worker["alive"] is True
    assert [app["name"] for app in as_json("apps", "list")] == ["shop"]
    assert as_json("apps", "show", "shop")["docker_image"] == "pitmaster-demo:latest"
    jobs = as_json("jobs", "list", "shop")
    assert {job["job"] for job in jobs} == {"greet", "crash", "broken", "talk"}
    assert as_json("jobs", "show", "shop", "broken")["command"] == ["/no/such/program"]
    assert "default" in [queue["name"] for queue in as_json("queues", "list")]
    assert [t["name"] for t in as_json("topics", "list")] == ["orders"]
    shown = as_json("topics", "show", "orders")
    assert shown["subscriptions"][0]["job"] == "greet"
    published = as_json("topics", "publish", "orders")
    assert len(published["message_ids"]) == 1

    # Without --json: a table, its header first and its columns aligned.
    table = deployment.cli("jobs", "list", "shop").stdout.splitlines()
    assert table[0].split() == ["JOB", "RETRY_LIMIT", "TIMEOUT", "COMMAND"]
    assert len({line.index(line.split()[1]) for line in table[1:]}) == 1, table


def _line_within(stream: IO[str], seconds: float) -> str:
    ready, _, _ = select.select([stream], [], [], seconds)
    assert ready, f"nothing written within {seconds} s"
    return stream.readline()


def test_given_a_running_job_when_its_logs_are_followed_then_its_output_comes_as_it_runs(
    deployment: Deployment, docker_client: docker.DockerClient
) -> None:
    message_id = deployment.cli("enqueue", "shop", "talk").stdout.strip()
    follow = subprocess.Popen(
        [*PITMASTER, "logs", "--follow", "--timeout", "120", message_id],
        env=deployment.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The first line comes while the job still runs: it waits for /tmp/release.
        assert follow.stdout is not None
        assert _line_within(follow.stdout, 60) == "one\n"
        label = f"pitmaster.execution={message_id}"
        [container] = docker_client.containers.list(filters={"label": label})
        assert container.status == "running"

        assert container.exec_run(["touch", "/tmp/release"]).exit_code == 0
        rest, errors = follow.communicate(timeout=120)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()

    assert follow.returncode == 0
    assert rest == "two\n"
    assert errors == "bye\n"
    status = deployment.cli("status", message_id).stdout
    assert "attempts     1\n" in status
