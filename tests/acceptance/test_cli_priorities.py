"""Priorities and pauses from the real ``pitmaster`` command, against a real ``pitmaster server``.

No job runs here (only the server is started), so these need no Docker engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..processes import Deployment


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path)
    process = deployment.start("server", "--port", str(deployment.port))
    deployment.wait_healthy(process)
    yield deployment
    deployment.stop_all()


def test_given_a_job_with_a_priority_when_enqueued_from_the_cli_then_the_priority_is_kept(
    deployment: Deployment,
) -> None:
    deployment.cli("apps", "create", "shop", "--image", "shop:1")
    deployment.cli("jobs", "create", "shop", "mail", "--priority", "3", "--", "true")

    named = deployment.cli("enqueue", "shop", "mail", "--priority", "-7").stdout.strip()
    defaulted = deployment.cli("enqueue", "shop", "mail").stdout.strip()

    with deployment.api() as api:
        assert api.get(f"/v1/job_executions/{named}").json()["priority"] == -7
        assert api.get(f"/v1/job_executions/{defaulted}").json()["priority"] == 3
    refused = deployment.cli("enqueue", "shop", "mail", "--priority", "5000", check=False)
    assert refused.returncode != 0
    assert "priority" in refused.stderr


def test_given_a_queue_and_an_app_when_paused_and_resumed_from_the_cli_then_the_api_agrees(
    deployment: Deployment,
) -> None:
    deployment.cli("apps", "create", "shop", "--image", "shop:1")

    paused = json.loads(
        deployment.cli("queues", "pause", "default", "--reason", "backup", "--json").stdout
    )
    app = json.loads(deployment.cli("apps", "pause", "shop", "--json").stdout)

    assert paused["pause_reason"] == "backup" and paused["paused_at"] is not None
    assert app["paused_at"] is not None
    resumed = json.loads(deployment.cli("queues", "resume", "default", "--json").stdout)
    assert resumed["paused_at"] is None
    assert (
        json.loads(deployment.cli("apps", "resume", "shop", "--json").stdout)["paused_at"] is None
    )


def test_given_pause_and_resume_without_json_then_each_says_what_it_did_in_one_line(
    deployment: Deployment,
) -> None:
    deployment.cli("apps", "create", "shop", "--image", "shop:1")

    paused_queue = deployment.cli("queues", "pause", "default", "--reason", "backup").stdout
    paused_app = deployment.cli("apps", "pause", "shop").stdout
    shown = deployment.cli("queues", "show", "default").stdout

    assert paused_queue == "paused job queue default\n"
    assert paused_app == "paused app shop\n"
    assert "paused          since " in shown and shown.split("\n")[3].endswith(": backup")
    assert deployment.cli("queues", "resume", "default").stdout == "resumed job queue default\n"
    assert deployment.cli("apps", "resume", "shop").stdout == "resumed app shop\n"
    assert "paused          no\n" in deployment.cli("apps", "show", "shop").stdout
