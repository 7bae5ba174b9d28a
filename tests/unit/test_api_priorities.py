"""Priorities and pauses through the HTTP API (FastAPI's TestClient), on both databases."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pitmaster.models import DEFAULT_QUEUE, MAX_PRIORITY
from pitmaster.store.store import Store

from ..api_errors import error_text

LEASE = 30.0


@pytest.fixture
def defined(client: TestClient) -> None:
    """App ``shop`` with job ``mail`` (priority 4 by default) and job ``report`` (none)."""
    assert client.post("/v1/apps", json={"name": "shop", "docker_image": "s:1"}).status_code == 201
    mail = {"job": "mail", "command": ["m"], "priority": 4}
    assert client.post("/v1/apps/shop/job_definitions", json=mail).status_code == 201
    report = {"job": "report", "command": ["r"]}
    assert client.post("/v1/apps/shop/job_definitions", json=report).status_code == 201


def _enqueue(client: TestClient, job: str = "mail", **fields: object) -> dict[str, object]:
    body = {"application": "shop", "job": job, "message": {}, **fields}
    response = client.post("/v2/job_executions", json=body)
    assert response.status_code == 201, response.text
    found = client.get(f"/v1/job_executions/{response.json()['message_id']}")
    result: dict[str, object] = found.json()
    return result


# -- priority ---------------------------------------------------------------------------


def test_given_a_priority_in_the_body_when_enqueued_then_the_execution_shows_it(
    client: TestClient, defined: None
) -> None:
    assert _enqueue(client, priority=9)["priority"] == 9
    assert _enqueue(client, priority=None)["priority"] == 4  # null: the definition's
    assert _enqueue(client)["priority"] == 4
    assert _enqueue(client, "report")["priority"] == 0


@pytest.mark.parametrize("priority", [MAX_PRIORITY + 1, -MAX_PRIORITY - 1, 1.5, "high", True])
def test_given_a_bad_priority_when_enqueued_then_422_and_nothing_stored(
    client: TestClient, store: Store, defined: None, priority: object
) -> None:
    body = {"application": "shop", "job": "mail", "message": {}, "priority": priority}

    response = client.post("/v2/job_executions", json=body)

    error_text(response, 422, "priority")
    assert store.claim("w", LEASE) is None


def test_given_a_job_definition_when_its_priority_is_changed_and_cleared_then_enqueues_follow(
    client: TestClient, defined: None
) -> None:
    path = "/v1/apps/shop/job_definitions/mail"
    assert client.get(path).json()["priority"] == 4

    assert client.patch(path, json={"priority": -2}).json()["priority"] == -2
    assert _enqueue(client)["priority"] == -2
    assert client.patch(path, json={"priority": None}).json()["priority"] is None
    assert _enqueue(client)["priority"] == 0


# -- pausing -----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/v1/job_queues", "/v1/queues"])
def test_given_a_queue_when_paused_then_its_work_waits_saying_why_until_resumed(
    client: TestClient, store: Store, defined: None, prefix: str
) -> None:
    paused = client.post(f"{prefix}/{DEFAULT_QUEUE}/pause", json={"reason": "deploying"})

    assert paused.status_code == 200, paused.text
    assert paused.json()["pause_reason"] == "deploying"
    assert paused.json()["paused_at"] is not None
    execution = _enqueue(client)  # still accepted
    assert execution["pending_reason"] == "queue 'default' is paused: deploying"
    assert store.claim("w", LEASE) is None
    assert client.get(f"/v1/job_queues/{DEFAULT_QUEUE}").json()["pause_reason"] == "deploying"

    resumed = client.post(f"{prefix}/{DEFAULT_QUEUE}/resume")

    assert resumed.status_code == 200
    assert resumed.json()["paused_at"] is None
    claim = store.claim("w", LEASE)
    assert claim is not None and claim.execution.message_id == execution["message_id"]


def test_given_an_app_when_paused_without_a_body_then_its_work_waits_until_resumed(
    client: TestClient, store: Store, defined: None
) -> None:
    paused = client.post("/v1/apps/shop/pause")

    assert paused.status_code == 200, paused.text
    assert paused.json()["paused_at"] is not None
    execution = _enqueue(client)
    assert execution["pending_reason"] == "app 'shop' is paused"
    assert store.claim("w", LEASE) is None

    assert client.post("/v1/apps/shop/resume").json()["paused_at"] is None
    assert store.claim("w", LEASE) is not None


@pytest.mark.parametrize(
    "path", ["/v1/job_queues/nope/pause", "/v1/apps/nope/pause", "/v1/apps/nope/resume"]
)
def test_given_an_unknown_name_when_paused_or_resumed_then_404(
    client: TestClient, path: str
) -> None:
    error_text(client.post(path), 404, "nope")


def test_given_a_bad_reason_when_pausing_then_422_and_nothing_paused(
    client: TestClient, store: Store
) -> None:
    response = client.post(f"/v1/job_queues/{DEFAULT_QUEUE}/pause", json={"reason": "a\x00b"})

    error_text(response, 422, "reason")
    assert store.get_queue(DEFAULT_QUEUE).paused_at is None
