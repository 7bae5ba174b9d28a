"""Limits, pending reasons and workers through the HTTP API (FastAPI's TestClient), on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from pitmaster.models import DEFAULT_QUEUE, MarkResult, Outcome, Status
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from ..api_errors import error_text
from .conftest import serving as _serving

LEASE = 30.0
RESOURCES = {"app": "/v1/apps", "queue": "/v1/job_queues"}


@pytest.fixture
def defined(client: TestClient) -> None:
    """App ``shop`` (job ``mail``) and queue ``mailers``, made through the API, without limits."""
    assert client.post("/v1/apps", json={"name": "shop", "docker_image": "s:1"}).status_code == 201
    body = {"job": "mail", "command": ["m"], "description": "mails"}
    assert client.post("/v1/apps/shop/job_definitions", json=body).status_code == 201
    assert client.post("/v1/job_queues", json={"name": "mailers"}).status_code == 201


def _assert_error(response: httpx.Response, status: int | None, *words: str) -> str:
    """A JSON ``{"error": "..."}`` (this status, or any 4xx for None) naming each of ``words``."""
    return error_text(response, status, *words)


def _create(client: TestClient, kind: str, name: str, **fields: Any) -> httpx.Response:
    body: dict[str, Any] = {"name": name, **fields}
    if kind == "app":
        body.setdefault("docker_image", "img:1")
    return client.post(RESOURCES[kind], json=body)


def _stored_limit(store: Store, kind: str, name: str) -> int | None:
    thing = store.get_app(name) if kind == "app" else store.get_queue(name)
    return thing.max_concurrent_executions


def _snapshot(store: Store) -> dict[str, Any]:
    """Everything management calls can change, with its updated_at: must not move on bad input."""
    return {
        "apps": store.list_apps(),
        "queues": store.list_queues(),
        "job_definitions": [
            d for app in store.list_apps() for d in store.list_job_definitions(app.name)
        ],
    }


def _outcome() -> Outcome:
    return Outcome(
        status=Status.SUCCESS,
        reason="exited 0",
        exit_code=0,
        finished_at=datetime(2026, 3, 1, 13, 0, tzinfo=UTC),
        stdout="",
        stderr="",
    )


# -- max_concurrent_executions on apps and queues --------------------------------------------


@pytest.mark.parametrize("kind", RESOURCES)
def test_given_a_limit_when_created_then_it_is_stored_and_shown_everywhere(
    client: TestClient, store: Store, kind: str
) -> None:
    # When one is created with a limit of 3 and one without.
    limited = _create(client, kind, "limited", max_concurrent_executions=3)
    free = _create(client, kind, "free")

    # Then the answers, GET, the list and the store all show 3 and null.
    assert (limited.status_code, limited.json()["max_concurrent_executions"]) == (201, 3)
    assert (free.status_code, free.json()["max_concurrent_executions"]) == (201, None)
    path = RESOURCES[kind]
    assert client.get(f"{path}/limited").json()["max_concurrent_executions"] == 3
    assert client.get(f"{path}/free").json()["max_concurrent_executions"] is None
    listed = {item["name"]: item["max_concurrent_executions"] for item in client.get(path).json()}
    assert (listed["limited"], listed["free"]) == (3, None)
    assert _stored_limit(store, kind, "limited") == 3
    assert _stored_limit(store, kind, "free") is None


@pytest.mark.parametrize("kind", RESOURCES)
def test_given_no_limit_when_patched_with_one_then_it_is_set_and_the_rest_stays(
    client: TestClient, store: Store, kind: str
) -> None:
    # Given one without a limit, with a description.
    assert _create(client, kind, "thing", description="kept").status_code == 201

    # When PATCHed with only a limit.
    response = client.patch(f"{RESOURCES[kind]}/thing", json={"max_concurrent_executions": 4})

    # Then the limit is set and the description is untouched.
    assert response.status_code == 200, response.text
    assert (response.json()["max_concurrent_executions"], response.json()["description"]) == (
        4,
        "kept",
    )
    assert client.get(f"{RESOURCES[kind]}/thing").json()["max_concurrent_executions"] == 4
    assert _stored_limit(store, kind, "thing") == 4


@pytest.mark.parametrize("kind", RESOURCES)
def test_given_a_limit_when_patched_with_null_then_it_is_cleared(
    client: TestClient, store: Store, kind: str
) -> None:
    # Given one with a limit of 2.
    assert _create(client, kind, "thing", max_concurrent_executions=2).status_code == 201

    # When PATCHed with other fields only, then the limit stays.
    kept = client.patch(f"{RESOURCES[kind]}/thing", json={"description": "d"})
    assert (kept.status_code, kept.json()["max_concurrent_executions"]) == (200, 2)

    # When PATCHed with an explicit null, then the limit is gone.
    cleared = client.patch(f"{RESOURCES[kind]}/thing", json={"max_concurrent_executions": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["max_concurrent_executions"] is None
    assert cleared.json()["description"] == "d"
    assert client.get(f"{RESOURCES[kind]}/thing").json()["max_concurrent_executions"] is None
    assert _stored_limit(store, kind, "thing") is None


def test_given_the_default_queue_when_a_limit_is_set_then_it_holds(
    client: TestClient, store: Store
) -> None:
    response = client.patch(
        f"/v1/job_queues/{DEFAULT_QUEUE}", json={"max_concurrent_executions": 1}
    )

    assert (response.status_code, response.json()["max_concurrent_executions"]) == (200, 1)
    assert store.get_queue(DEFAULT_QUEUE).max_concurrent_executions == 1


NULL_PATCHES = [
    ("app docker_image", "/v1/apps/shop", {"docker_image": None}, "docker_image"),
    ("app description", "/v1/apps/shop", {"description": None}, "description"),
    (
        "app docker_image with a limit",
        "/v1/apps/shop",
        {"max_concurrent_executions": 5, "docker_image": None},
        "docker_image",
    ),
    ("queue description", "/v1/job_queues/mailers", {"description": None}, "description"),
    (
        "queue description with a limit",
        "/v1/job_queues/mailers",
        {"description": None, "max_concurrent_executions": 5},
        "description",
    ),
    ("job command", "/v1/apps/shop/job_definitions/mail", {"command": None}, "command"),
    (
        "job description",
        "/v1/apps/shop/job_definitions/mail",
        {"description": None},
        "description",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [case[1:] for case in NULL_PATCHES],
    ids=[case[0] for case in NULL_PATCHES],
)
@pytest.mark.usefixtures("defined")
def test_given_null_for_a_field_that_cannot_be_null_when_patched_then_4xx_and_nothing_changes(
    client: TestClient, store: Store, path: str, body: dict[str, Any], field: str
) -> None:
    before = _snapshot(store)

    response = client.patch(path, json=body)

    text = _assert_error(response, None, field)
    assert "null" in text.lower() or "none" in text.lower(), text
    assert _snapshot(store) == before  # not even updated_at moved, nor the limit given with it


BAD_LIMITS = [
    ("zero", 0),
    ("negative", -1),
    ("fraction", 1.5),
    ("text", "three"),
    ("list", [2]),
    ("object", {"n": 2}),
    ("over a million", 1_000_001),
]


@pytest.mark.parametrize("value", [case[1] for case in BAD_LIMITS], ids=[c[0] for c in BAD_LIMITS])
@pytest.mark.parametrize("kind", RESOURCES)
@pytest.mark.usefixtures("defined")
def test_given_a_bad_limit_when_created_or_patched_then_4xx_naming_it_and_nothing_changes(
    client: TestClient, store: Store, kind: str, value: Any
) -> None:
    existing = "shop" if kind == "app" else "mailers"
    before = _snapshot(store)

    created = _create(client, kind, "new", max_concurrent_executions=value)
    patched = client.patch(
        f"{RESOURCES[kind]}/{existing}", json={"max_concurrent_executions": value}
    )

    _assert_error(created, None, "max_concurrent_executions")
    _assert_error(patched, None, "max_concurrent_executions")
    assert _snapshot(store) == before


@pytest.mark.parametrize("value", [True, "3"], ids=["boolean", "numeric string"])
@pytest.mark.parametrize("kind", RESOURCES)
def test_given_a_limit_that_is_not_a_json_integer_when_created_then_4xx(
    client: TestClient, store: Store, kind: str, value: Any
) -> None:
    before = _snapshot(store)

    response = _create(client, kind, "new", max_concurrent_executions=value)

    _assert_error(response, None, "max_concurrent_executions")
    assert _snapshot(store) == before


# -- pending_reason in GET /v1/job_executions/{id} ------------------------------------------------


@pytest.mark.usefixtures("defined")
def test_given_a_delayed_execution_then_its_pending_reason_is_the_delay_until_it_runs(
    client: TestClient, store: Store, database_url: str
) -> None:
    # Given an execution delayed by an hour.
    enqueued = client.post(
        "/v2/job_executions",
        json={
            "application": "shop",
            "job": "mail",
            "queue": "mailers",
            "delay_seconds": 3600,
            "message": {},
        },
    )
    assert enqueued.status_code == 201
    message_id = enqueued.json()["message_id"]

    # Then while pending its reason is the delay, with the time it is due.
    body = client.get(f"/v1/job_executions/{message_id}").json()
    assert body["status"] == "pending"
    run_after = datetime.fromisoformat(body["run_after"])
    assert isinstance(body["pending_reason"], str)
    assert body["pending_reason"].startswith("delayed until ")
    stated = datetime.fromisoformat(body["pending_reason"].removeprefix("delayed until "))
    assert stated == run_after
    assert timedelta(minutes=59) < run_after - datetime.now(UTC) <= timedelta(hours=1)

    # When it is claimed (ignoring its delay by a later clock) and running, then null.
    later = Store(database_url, clock=lambda: datetime.now(UTC) + timedelta(hours=2))
    try:
        claim = later.claim("w", LEASE)
        assert claim is not None
        assert claim.execution.message_id == message_id
        assert (
            later.mark_running(claim.attempt_id, "c1", "engine", datetime.now(UTC))
            is MarkResult.RUNNING
        )
    finally:
        later.close()
    running = client.get(f"/v1/job_executions/{message_id}").json()
    assert running["status"] == "running"
    assert "pending_reason" in running
    assert running["pending_reason"] is None

    # When it has ended, then still null.
    assert store.record_outcome(claim.attempt_id, _outcome())
    ended = client.get(f"/v1/job_executions/{message_id}").json()
    assert ended["status"] == "success"
    assert "pending_reason" in ended
    assert ended["pending_reason"] is None


@pytest.mark.usefixtures("defined")
def test_given_a_runnable_execution_then_its_pending_reason_follows_claims_and_workers(
    client: TestClient, store: Store
) -> None:
    # Given a runnable execution in 'mailers' and no worker.
    enqueued = client.post(
        "/v2/job_executions",
        json={"application": "shop", "job": "mail", "queue": "mailers", "message": {}},
    ).json()
    path = f"/v1/job_executions/{enqueued['message_id']}"
    assert client.get(path).json()["pending_reason"] == "no worker is serving queue 'mailers'"

    # When a worker serving only 'default' beats, then still nobody serves it.
    store.heartbeat("default-only", "host", "engine", [DEFAULT_QUEUE])
    assert client.get(path).json()["pending_reason"] == "no worker is serving queue 'mailers'"

    # When a worker serving it beats, then the reason is something else.
    store.heartbeat("mailer", "host", "engine", ["mailers"])
    reason = client.get(path).json()["pending_reason"]
    assert isinstance(reason, str)
    assert reason
    assert "no worker" not in reason

    # When that worker claims it, then the reason names the worker.
    claim = store.claim("mailer", LEASE)
    assert claim is not None
    assert client.get(path).json()["pending_reason"] == "being started by worker mailer"


@pytest.mark.usefixtures("defined")
def test_given_a_full_queue_then_waiting_work_says_the_queue_is_at_its_limit(
    client: TestClient, store: Store
) -> None:
    # Given 'mailers' limited to 1 through the API, one running and one waiting.
    assert (
        client.patch("/v1/job_queues/mailers", json={"max_concurrent_executions": 1}).status_code
        == 200
    )
    body = {"application": "shop", "job": "mail", "queue": "mailers", "message": {}}
    first = client.post("/v2/job_executions", json=body).json()
    waiting = client.post("/v2/job_executions", json=body).json()
    store.heartbeat("w", "host", "engine", None)
    claim = store.claim("w", LEASE)
    assert claim is not None
    assert claim.execution.message_id == first["message_id"]
    assert (
        store.mark_running(claim.attempt_id, "c1", "engine", datetime.now(UTC))
        is MarkResult.RUNNING
    )

    reason = client.get(f"/v1/job_executions/{waiting['message_id']}").json()["pending_reason"]

    assert reason == "queue 'mailers' is at its limit of 1"


@pytest.mark.usefixtures("defined")
def test_given_a_global_limit_setting_then_waiting_work_says_pitmaster_is_at_it(
    settings: Settings, store: Store, client: TestClient
) -> None:
    # Given a server whose settings carry a global limit of 1, with one attempt live.
    body = {"application": "shop", "job": "mail", "message": {}}
    client.post("/v2/job_executions", json=body)
    waiting = client.post("/v2/job_executions", json=body).json()
    store.heartbeat("w", "host", "engine", None)
    assert store.claim("w", LEASE, global_limit=1) is not None
    limited = settings.model_copy(update={"max_concurrent_executions": 1})

    # When asked through that server, and through the one without a global limit.
    with _serving(limited, store) as other:
        with_limit = other.get(f"/v1/job_executions/{waiting['message_id']}").json()
    without = client.get(f"/v1/job_executions/{waiting['message_id']}").json()

    # Then only the first names the global limit.
    assert with_limit["pending_reason"] == "pitmaster is at its global limit of 1"
    assert "limit" not in without["pending_reason"]


# -- GET /v1/workers -----------------------------------------------------------------------


def test_given_fresh_and_stale_heartbeats_then_workers_lists_both_with_alive_flags(
    client: TestClient, store: Store, database_url: str
) -> None:
    # Given a fresh heartbeat, and one written a minute ago (worker_alive_seconds is 15).
    store.heartbeat("fresh", "host-a", "engine-a", ["mailers", DEFAULT_QUEUE])
    a_minute_ago = datetime.now(UTC) - timedelta(minutes=1)
    old = Store(database_url, clock=lambda: a_minute_ago)
    try:
        old.heartbeat("stale", "host-b", None, None)
    finally:
        old.close()

    # When listed.
    response = client.get("/v1/workers")

    # Then both are there, sorted by id, with what they serve and whether they are alive.
    assert response.status_code == 200
    workers = {worker["id"]: worker for worker in response.json()}
    assert [worker["id"] for worker in response.json()] == ["fresh", "stale"]
    fresh, stale = workers["fresh"], workers["stale"]
    assert (fresh["host"], fresh["engine"], fresh["queues"]) == (
        "host-a",
        "engine-a",
        ["mailers", DEFAULT_QUEUE],
    )
    assert (stale["host"], stale["engine"], stale["queues"]) == ("host-b", None, None)
    assert (fresh["alive"], stale["alive"]) == (True, False)
    assert (fresh["running"], stale["running"]) == (0, 0)
    assert datetime.fromisoformat(stale["last_seen_at"]) == a_minute_ago
    assert datetime.fromisoformat(stale["started_at"]) == a_minute_ago


@pytest.mark.usefixtures("defined")
def test_given_a_worker_running_work_then_workers_counts_it_until_removed(
    client: TestClient, store: Store
) -> None:
    # Given a worker that runs one execution and holds a claim on another.
    body = {"application": "shop", "job": "mail", "message": {}}
    client.post("/v2/job_executions", json=body)
    client.post("/v2/job_executions", json=body)
    store.heartbeat("w1", "host", "engine", None)
    running = store.claim("w1", LEASE)
    assert running is not None
    assert (
        store.mark_running(running.attempt_id, "c1", "engine", datetime.now(UTC))
        is MarkResult.RUNNING
    )
    assert store.claim("w1", LEASE) is not None

    # Then it is listed running one.
    (listed,) = client.get("/v1/workers").json()
    assert (listed["id"], listed["alive"], listed["running"]) == ("w1", True, 1)

    # When it is removed (a clean stop), then the list is empty.
    store.remove_worker("w1")
    assert client.get("/v1/workers").json() == []
