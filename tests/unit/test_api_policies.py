"""Job policies through the HTTP API (FastAPI's TestClient), on both databases.

Policy fields of job definitions, cancel and retry endpoints, idempotent and
scheduled enqueue, and the ``retries`` field of an execution.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from pitmaster.models import AttemptState, ExecutionFilter
from pitmaster.store.store import Store
from pitmaster.testing import FakeExecutor
from pitmaster.worker.poller import Poller
from pitmaster.worker.runner import Runner

from ..api_errors import error_text

MIB = 1024 * 1024
POLICY: dict[str, Any] = {
    "retry_limit": 4,
    "base_delay": 2.5,
    "max_delay": 120.0,
    "jitter": True,
    "retry_on": ["failed", "timeout", "oom"],
    "retry_exit_codes": [3, 75, 255],
    "timeout_seconds": 600.0,
    "stop_grace_seconds": 20.0,
    "memory": 64 * MIB,
    "cpus": 0.5,
    "pids_limit": 64,
    "network": "none",
}
DEFAULT_POLICY: dict[str, Any] = {
    "retry_limit": 0,
    "base_delay": 15.0,
    "max_delay": None,
    "jitter": False,
    "retry_on": None,
    "retry_exit_codes": None,
    "timeout_seconds": None,
    "stop_grace_seconds": 10.0,
    "memory": None,
    "cpus": None,
    "pids_limit": None,
    "network": None,
}


@pytest.fixture
def shop(client: TestClient) -> None:
    """An app ``shop`` with a job ``mail`` (retried once, 60 s later), made through the API."""
    assert (
        client.post("/v1/apps", json={"name": "shop", "docker_image": "shop:1"}).status_code == 201
    )
    created = client.post(
        "/v1/apps/shop/job_definitions",
        json={"job": "mail", "command": ["m"], "retry_limit": 1, "base_delay": 60},
    )
    assert created.status_code == 201, created.text


def assert_error(response: httpx.Response, status: int, *words: str) -> str:
    """A JSON ``{"error": "..."}`` with this status, whose text names each of ``words``."""
    return error_text(response, status, *words)


def enqueue(
    client: TestClient, headers: dict[str, str] | None = None, **fields: Any
) -> httpx.Response:
    body: dict[str, Any] = {"application": "shop", "job": "mail", "message": {"n": 1}}
    body.update(fields)
    return client.post("/v2/job_executions", json=body, headers=headers)


def executions(store: Store) -> list[int]:
    return [e.id for e in store.list_executions(ExecutionFilter(), limit=500).items]


def run_to_end(store: Store, exit_code: int) -> None:
    """The oldest runnable attempt runs in a fake container that exits so, and is recorded."""
    executor = FakeExecutor()
    assert Runner(store, executor, "w", 30).run_once() is True
    (name,) = executor.containers
    executor.finish(name, exit_code)
    assert Poller(store, executor, 4096).sweep() == 1


def start_running(store: Store) -> FakeExecutor:
    executor = FakeExecutor()
    assert Runner(store, executor, "w", 30).run_once() is True
    return executor


# -- job definition policies ------------------------------------------------------------


def test_given_every_policy_field_when_a_job_is_defined_then_each_reads_back_as_given(
    client: TestClient, store: Store
) -> None:
    client.post("/v1/apps", json={"name": "shop", "docker_image": "shop:1"})

    created = client.post(
        "/v1/apps/shop/job_definitions", json={"job": "mail", "command": ["m"], **POLICY}
    )

    assert created.status_code == 201, created.text
    assert {key: created.json()[key] for key in POLICY} == POLICY
    fetched = client.get("/v1/apps/shop/job_definitions/mail").json()
    assert {key: fetched[key] for key in POLICY} == POLICY
    (listed,) = client.get("/v1/apps/shop/job_definitions").json()
    assert {key: listed[key] for key in POLICY} == POLICY
    stored = store.get_job_definition("shop", "mail")
    assert (stored.retry_limit, stored.memory, stored.timeout_seconds) == (4, 64 * MIB, 600.0)
    assert stored.retry_on == ("failed", "timeout", "oom")
    assert stored.retry_exit_codes == (3, 75, 255)


def test_given_no_policy_fields_when_a_job_is_defined_then_the_defaults(
    client: TestClient,
) -> None:
    client.post("/v1/apps", json={"name": "shop", "docker_image": "shop:1"})

    created = client.post("/v1/apps/shop/job_definitions", json={"job": "mail", "command": ["m"]})

    assert created.status_code == 201
    assert {key: created.json()[key] for key in DEFAULT_POLICY} == DEFAULT_POLICY


def test_given_empty_retry_on_and_exit_codes_when_defined_then_they_read_back_empty(
    client: TestClient, store: Store
) -> None:
    client.post("/v1/apps", json={"name": "shop", "docker_image": "shop:1"})

    created = client.post(
        "/v1/apps/shop/job_definitions",
        json={
            "job": "mail",
            "command": ["m"],
            "retry_limit": 3,
            "retry_on": [],
            "retry_exit_codes": [],
        },
    )

    # Stored empty, the job is never retried; the API must not say "retried on anything".
    assert created.status_code == 201
    assert store.get_job_definition("shop", "mail").retry_on == ()
    body = client.get("/v1/apps/shop/job_definitions/mail").json()
    assert (body["retry_on"], body["retry_exit_codes"]) == ([], [])


@pytest.mark.usefixtures("shop")
def test_given_a_job_when_its_policy_is_patched_then_only_the_given_fields_change(
    client: TestClient, store: Store
) -> None:
    response = client.patch(
        "/v1/apps/shop/job_definitions/mail",
        json={"timeout_seconds": 30, "memory": 16 * MIB, "retry_on": ["timeout"]},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["timeout_seconds"], body["memory"], body["retry_on"]) == (
        30,
        16 * MIB,
        ["timeout"],
    )
    assert (body["retry_limit"], body["base_delay"], body["command"]) == (1, 60, ["m"])
    assert store.get_job_definition("shop", "mail").timeout_seconds == 30


@pytest.mark.usefixtures("shop")
def test_given_a_job_with_every_policy_when_nullable_fields_are_patched_null_then_cleared(
    client: TestClient, store: Store
) -> None:
    assert client.patch("/v1/apps/shop/job_definitions/mail", json=POLICY).status_code == 200
    nullable = ["max_delay", "retry_on", "retry_exit_codes", "timeout_seconds", "memory"]
    nullable += ["cpus", "pids_limit", "network"]

    response = client.patch("/v1/apps/shop/job_definitions/mail", json=dict.fromkeys(nullable))

    assert response.status_code == 200, response.text
    body = response.json()
    assert {key: body[key] for key in nullable} == dict.fromkeys(nullable)
    assert (body["retry_limit"], body["jitter"], body["stop_grace_seconds"]) == (4, True, 20.0)
    stored = store.get_job_definition("shop", "mail")
    assert (stored.max_delay, stored.retry_on, stored.retry_exit_codes) == (None, None, None)
    assert (stored.timeout_seconds, stored.memory) == (None, None)


@pytest.mark.parametrize(
    "field", ["retry_limit", "base_delay", "jitter", "stop_grace_seconds", "command"]
)
@pytest.mark.usefixtures("shop")
def test_given_a_field_that_cannot_be_null_when_patched_null_then_422_and_unchanged(
    client: TestClient, store: Store, field: str
) -> None:
    before = store.get_job_definition("shop", "mail")

    response = client.patch("/v1/apps/shop/job_definitions/mail", json={field: None})

    assert_error(response, 422, field, "null")
    assert store.get_job_definition("shop", "mail") == before


BAD_POLICIES: list[tuple[str, dict[str, Any], str]] = [
    ("negative retry_limit", {"retry_limit": -1}, "retry_limit"),
    ("retry_limit too big", {"retry_limit": 101}, "retry_limit"),
    ("retry_limit not integer", {"retry_limit": 1.5}, "retry_limit"),
    ("retry_limit as text", {"retry_limit": "3"}, "retry_limit"),
    ("unknown retry_on value", {"retry_on": ["failed", "crashed"]}, "retry_on"),
    ("retry_on as a string", {"retry_on": "failed"}, "retry_on"),
    ("exit code 0", {"retry_exit_codes": [0]}, "retry_exit_codes"),
    ("exit code 256", {"retry_exit_codes": [1, 256]}, "retry_exit_codes"),
    ("negative exit code", {"retry_exit_codes": [-1]}, "retry_exit_codes"),
    ("exit code as text", {"retry_exit_codes": ["3"]}, "retry_exit_codes"),
    ("memory below 6 MiB", {"memory": 6 * MIB - 1}, "memory"),
    ("memory not integer", {"memory": 8388608.5}, "memory"),
    ("memory with a unit", {"memory": "8m"}, "memory"),
    ("timeout 0", {"timeout_seconds": 0}, "timeout_seconds"),
    ("negative timeout", {"timeout_seconds": -5}, "timeout_seconds"),
    ("timeout over 30 days", {"timeout_seconds": 31 * 86400}, "timeout_seconds"),
    ("negative base_delay", {"base_delay": -1}, "base_delay"),
    ("negative max_delay", {"max_delay": -1}, "max_delay"),
    ("negative grace", {"stop_grace_seconds": -1}, "stop_grace_seconds"),
    ("jitter as text", {"jitter": "yes"}, "jitter"),
    ("cpus 0", {"cpus": 0}, "cpus"),
    ("negative cpus", {"cpus": -1}, "cpus"),
    ("cpus below 0.01", {"cpus": 0.001}, "cpus"),
    ("cpus as text", {"cpus": "half"}, "cpus"),
    ("pids_limit below 16", {"pids_limit": 15}, "pids_limit"),
    ("pids_limit unlimited", {"pids_limit": -1}, "pids_limit"),
    ("pids_limit not integer", {"pids_limit": 64.5}, "pids_limit"),
    ("host network", {"network": "host"}, "network"),
    ("host network in capitals", {"network": "HOST"}, "network"),
    ("another container's network", {"network": "container:db"}, "network"),
    ("network with a space", {"network": "my net"}, "network"),
    ("empty network", {"network": ""}, "network"),
    ("network starting with a dot", {"network": ".hidden"}, "network"),
]


@pytest.mark.parametrize(
    ("fields", "named"), [case[1:] for case in BAD_POLICIES], ids=[case[0] for case in BAD_POLICIES]
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.usefixtures("shop")
def test_given_a_bad_policy_when_a_job_is_defined_or_patched_then_422_naming_it_and_nothing_changes(
    client: TestClient, store: Store, method: str, fields: dict[str, Any], named: str
) -> None:
    before = store.list_job_definitions("shop")

    if method == "POST":
        body = {"job": "other", "command": ["o"], **fields}
        response = client.post("/v1/apps/shop/job_definitions", json=body)
    else:
        response = client.patch("/v1/apps/shop/job_definitions/mail", json=fields)

    assert_error(response, 422, named)
    assert store.list_job_definitions("shop") == before


@pytest.mark.usefixtures("shop")
def test_given_the_smallest_memory_docker_takes_when_defined_then_accepted(
    client: TestClient,
) -> None:
    response = client.patch("/v1/apps/shop/job_definitions/mail", json={"memory": 6 * MIB})

    assert (response.status_code, response.json()["memory"]) == (200, 6 * MIB)


# -- cancel ----------------------------------------------------------------------------


@pytest.mark.usefixtures("shop")
def test_given_a_pending_execution_when_cancelled_then_200_cancelled_and_again_200(
    client: TestClient, store: Store
) -> None:
    mid = enqueue(client).json()["message_id"]

    first = client.post(f"/v1/job_executions/{mid}/cancel")
    second = client.post(f"/v1/job_executions/{mid}/cancel")

    assert first.status_code == 200, first.text
    assert (first.json()["message_id"], first.json()["status"]) == (mid, "cancelled")
    assert first.json()["reason"] == "cancelled"
    assert (second.status_code, second.json()["status"]) == (200, "cancelled")
    assert client.get(f"/v1/job_executions/{mid}").json()["status"] == "cancelled"
    assert store.claim("w", 30) is None


@pytest.mark.usefixtures("shop")
def test_given_a_running_execution_when_cancelled_then_200_and_a_stop_is_asked_for(
    client: TestClient, store: Store
) -> None:
    mid = enqueue(client).json()["message_id"]
    executor = start_running(store)
    (container,) = executor.containers.values()

    response = client.post(f"/v1/job_executions/{mid}/cancel")

    assert (response.status_code, response.json()["status"]) == (200, "running")
    (attempt,) = store.attempts_of(response.json()["id"])
    assert attempt.stop_reason == "cancelled"
    assert Poller(store, executor, 4096).sweep() == 0
    assert container.signals == ["SIGTERM"]
    assert Poller(store, executor, 4096).sweep() == 1
    assert client.get(f"/v1/job_executions/{mid}").json()["status"] == "cancelled"


@pytest.mark.usefixtures("shop")
def test_given_a_successful_execution_when_cancelled_then_409_and_unchanged(
    client: TestClient, store: Store
) -> None:
    mid = enqueue(client).json()["message_id"]
    run_to_end(store, 0)

    assert_error(client.post(f"/v1/job_executions/{mid}/cancel"), 409, "success")

    assert client.get(f"/v1/job_executions/{mid}").json()["status"] == "success"


def test_given_no_execution_when_cancelled_then_404(client: TestClient) -> None:
    assert_error(client.post("/v1/job_executions/nope/cancel"), 404, "nope")


# -- retry by hand ----------------------------------------------------------------------


@pytest.mark.usefixtures("shop")
def test_given_a_failed_execution_when_retried_then_201_with_a_new_pending_message_id(
    client: TestClient, store: Store
) -> None:
    client.patch("/v1/apps/shop/job_definitions/mail", json={"retry_limit": 0})
    enqueued = enqueue(client).json()
    mid = enqueued["message_id"]
    run_to_end(store, 1)
    before = datetime.now(UTC)

    response = client.post(f"/v1/job_executions/{mid}/retries", json={"delay_seconds": 30})

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"message_id", "status"}
    assert body["status"] == "pending"
    assert body["message_id"] != mid
    by_retry = client.get(f"/v1/job_executions/{body['message_id']}").json()
    assert (by_retry["id"], by_retry["message_id"], by_retry["status"]) == (
        enqueued["id"],
        mid,
        "retried",
    )
    retry = store.attempts_of(enqueued["id"])[-1]
    assert (retry.message_id, retry.state) == (body["message_id"], AttemptState.QUEUED)
    assert retry.run_after is not None
    assert before + timedelta(seconds=30) <= retry.run_after
    assert retry.run_after <= datetime.now(UTC) + timedelta(seconds=30)


@pytest.mark.usefixtures("shop")
def test_given_a_failed_execution_when_retried_without_a_body_then_201_and_runnable_now(
    client: TestClient, store: Store
) -> None:
    client.patch("/v1/apps/shop/job_definitions/mail", json={"retry_limit": 0})
    mid = enqueue(client).json()["message_id"]
    run_to_end(store, 1)

    response = client.post(f"/v1/job_executions/{mid}/retries")

    assert (response.status_code, response.json()["status"]) == (201, "pending")
    claim = store.claim("w", 30)
    assert claim is not None
    assert claim.attempt_message_id == response.json()["message_id"]


@pytest.mark.usefixtures("shop")
def test_given_a_cancelled_execution_when_retried_then_201(client: TestClient) -> None:
    mid = enqueue(client).json()["message_id"]
    client.post(f"/v1/job_executions/{mid}/cancel")

    response = client.post(f"/v1/job_executions/{mid}/retries", json={})

    assert (response.status_code, response.json()["status"]) == (201, "pending")
    assert client.get(f"/v1/job_executions/{mid}").json()["status"] == "retried"


@pytest.mark.usefixtures("shop")
def test_given_an_execution_that_could_not_start_when_retried_then_201(
    client: TestClient, store: Store
) -> None:
    client.patch("/v1/apps/shop/job_definitions/mail", json={"retry_limit": 0})
    mid = enqueue(client).json()["message_id"]
    assert Runner(store, FakeExecutor(missing_images={"shop:1"}), "w", 30).run_once() is True
    assert client.get(f"/v1/job_executions/{mid}").json()["status"] == "error"

    response = client.post(f"/v1/job_executions/{mid}/retries", json={})

    assert (response.status_code, response.json()["status"]) == (201, "pending")
    assert client.get(f"/v1/job_executions/{mid}").json()["status"] == "retried"


@pytest.mark.parametrize("state", ["pending", "running", "success", "retried"])
@pytest.mark.usefixtures("shop")
def test_given_an_execution_that_did_not_fail_when_retried_then_409_and_unchanged(
    client: TestClient, store: Store, state: str
) -> None:
    enqueued = enqueue(client).json()
    mid = enqueued["message_id"]
    if state == "running":
        start_running(store)
    elif state in ("success", "retried"):
        run_to_end(store, 0 if state == "success" else 1)
    assert client.get(f"/v1/job_executions/{mid}").json()["status"] == state
    attempts_before = len(store.attempts_of(enqueued["id"]))

    assert_error(client.post(f"/v1/job_executions/{mid}/retries", json={}), 409, state)

    assert client.get(f"/v1/job_executions/{mid}").json()["status"] == state
    assert len(store.attempts_of(enqueued["id"])) == attempts_before


def test_given_no_execution_when_retried_then_404(client: TestClient) -> None:
    assert_error(client.post("/v1/job_executions/nope/retries", json={}), 404, "nope")


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        ({"delay_seconds": -1}, 422, "delay_seconds"),
        ({"delay_seconds": 31 * 86400}, 422, "delay_seconds"),
        ({"delay_seconds": "soon"}, 422, "delay_seconds"),
        ({"delay": 5}, 400, "delay"),
    ],
    ids=["negative", "over-30-days", "text", "unknown-field"],
)
@pytest.mark.usefixtures("shop")
def test_given_a_bad_retry_body_then_4xx_and_nothing_scheduled(
    client: TestClient, store: Store, body: dict[str, Any], status: int, named: str
) -> None:
    client.patch("/v1/apps/shop/job_definitions/mail", json={"retry_limit": 0})
    enqueued = enqueue(client).json()
    run_to_end(store, 1)

    response = client.post(f"/v1/job_executions/{enqueued['message_id']}/retries", json=body)

    assert_error(response, status, named)
    assert len(store.attempts_of(enqueued["id"])) == 1
    assert client.get(f"/v1/job_executions/{enqueued['id']}").json()["status"] == "failed"


# -- bulk retry -------------------------------------------------------------------------


def bulk_answer(retried: int) -> dict[str, Any]:
    """The answer of a bulk retry that retried every one that matched."""
    return {"retried": retried, "matched": retried, "remaining": 0, "next_after_id": None}


@pytest.mark.usefixtures("shop")
def test_given_failed_and_other_executions_when_retried_in_bulk_then_the_count_of_matches(
    client: TestClient, store: Store
) -> None:
    client.patch("/v1/apps/shop/job_definitions/mail", json={"retry_limit": 0})
    client.post("/v1/apps", json={"name": "blog", "docker_image": "blog:1"})
    client.post("/v1/apps/blog/job_definitions", json={"job": "post", "command": ["p"]})
    failed = [enqueue(client).json()["message_id"] for _ in range(2)]
    for _ in failed:
        run_to_end(store, 1)
    succeeded = enqueue(client).json()["message_id"]
    run_to_end(store, 0)
    blog = enqueue(client, application="blog", job="post").json()["message_id"]
    run_to_end(store, 1)
    cancelled = enqueue(client).json()["message_id"]
    client.post(f"/v1/job_executions/{cancelled}/cancel")

    shop_only = client.post("/v1/job_executions/retries", json={"application": "shop"})
    assert (shop_only.status_code, shop_only.json()) == (200, bulk_answer(2))
    again = client.post("/v1/job_executions/retries", json={"application": "shop"})
    assert again.json() == bulk_answer(0)
    everything_failed = client.post("/v1/job_executions/retries", json={})
    assert everything_failed.json() == bulk_answer(1)
    by_status = client.post("/v1/job_executions/retries", json={"status": "cancelled"})
    assert by_status.json() == bulk_answer(1)

    def status(mid: str) -> str:
        result: str = client.get(f"/v1/job_executions/{mid}").json()["status"]
        return result

    assert [status(mid) for mid in (*failed, blog, cancelled)] == ["retried"] * 4
    assert status(succeeded) == "success"


@pytest.mark.usefixtures("shop")
def test_given_a_created_since_when_retried_in_bulk_then_only_newer_failures(
    client: TestClient, store: Store
) -> None:
    client.patch("/v1/apps/shop/job_definitions/mail", json={"retry_limit": 0})
    old = enqueue(client).json()["message_id"]
    run_to_end(store, 1)
    since = datetime.now(UTC)
    new = enqueue(client).json()["message_id"]
    run_to_end(store, 1)

    response = client.post("/v1/job_executions/retries", json={"created_since": since.isoformat()})

    assert response.json() == bulk_answer(1)
    assert client.get(f"/v1/job_executions/{new}").json()["status"] == "retried"
    assert client.get(f"/v1/job_executions/{old}").json()["status"] == "failed"


@pytest.mark.usefixtures("shop")
def test_given_more_matches_than_the_limit_when_retried_in_bulk_then_the_rest_on_the_next_call(
    client: TestClient,
) -> None:
    # Given three cancelled executions.
    mids = [enqueue(client).json()["message_id"] for _ in range(3)]
    for mid in mids:
        client.post(f"/v1/job_executions/{mid}/cancel")
    ids = [client.get(f"/v1/job_executions/{mid}").json()["id"] for mid in mids]
    body: dict[str, Any] = {"status": "cancelled", "limit": 2}

    # When a bulk retry may retry two: the two oldest are, and the answer says one remains.
    first = client.post("/v1/job_executions/retries", json=body)
    assert first.json() == {"retried": 2, "matched": 3, "remaining": 1, "next_after_id": ids[1]}

    # When it goes on after them: the third is, and nothing remains.
    body["after_id"] = first.json()["next_after_id"]
    second = client.post("/v1/job_executions/retries", json=body)
    assert second.json() == {"retried": 1, "matched": 1, "remaining": 0, "next_after_id": None}
    assert all(
        client.get(f"/v1/job_executions/{mid}").json()["status"] == "retried" for mid in mids
    )


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        ({"status": "success"}, 422, "status"),
        ({"status": "pending"}, 422, "status"),
        ({"created_since": "2026-01-01T00:00:00"}, 422, "created_since"),
        ({"app": "shop"}, 400, "app"),
        ({"limit": 5001}, 422, "limit"),
        ({"limit": 0}, 422, "limit"),
        ({"after_id": -1}, 422, "after_id"),
    ],
    ids=["success", "pending", "naive-since", "unknown-field", "over-5000", "zero", "negative"],
)
@pytest.mark.usefixtures("shop")
def test_given_a_bad_bulk_retry_body_then_4xx_and_nothing_retried(
    client: TestClient, store: Store, body: dict[str, Any], status: int, named: str
) -> None:
    client.patch("/v1/apps/shop/job_definitions/mail", json={"retry_limit": 0})
    mid = enqueue(client).json()["message_id"]
    run_to_end(store, 1)

    assert_error(client.post("/v1/job_executions/retries", json=body), status, named)

    assert client.get(f"/v1/job_executions/{mid}").json()["status"] == "failed"


# -- idempotent enqueue ------------------------------------------------------------------


@pytest.mark.parametrize("way", ["header", "field", "both"])
@pytest.mark.usefixtures("shop")
def test_given_an_idempotency_key_when_the_request_is_repeated_then_the_same_execution(
    client: TestClient, store: Store, way: str
) -> None:
    headers = {"Idempotency-Key": "order-42"} if way in ("header", "both") else None
    fields = {"idempotency_key": "order-42"} if way in ("field", "both") else {}

    first = enqueue(client, headers, **fields)
    second = enqueue(client, headers, **fields)

    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.json() == first.json()
    assert executions(store) == [first.json()["id"]]


@pytest.mark.usefixtures("shop")
def test_given_a_key_sent_as_header_when_repeated_as_field_then_the_same_execution(
    client: TestClient, store: Store
) -> None:
    first = enqueue(client, {"Idempotency-Key": "k"})
    second = enqueue(client, idempotency_key="k")

    assert second.status_code == 201
    assert second.json()["message_id"] == first.json()["message_id"]
    assert len(executions(store)) == 1


@pytest.mark.usefixtures("shop")
def test_given_a_header_and_a_field_that_differ_then_422_and_nothing_stored(
    client: TestClient, store: Store
) -> None:
    response = enqueue(client, {"Idempotency-Key": "one"}, idempotency_key="two")

    assert_error(response, 422, "Idempotency-Key", "idempotency_key")
    assert executions(store) == []


@pytest.mark.usefixtures("shop")
def test_given_a_key_when_reused_for_a_different_body_then_409_naming_the_first_execution(
    client: TestClient, store: Store
) -> None:
    first = enqueue(client, {"Idempotency-Key": "k"}, message={"n": 1}).json()

    response = enqueue(client, {"Idempotency-Key": "k"}, message={"n": 2})

    assert_error(response, 409, "k", first["message_id"])
    assert executions(store) == [first["id"]]


@pytest.mark.usefixtures("shop")
def test_given_two_apps_when_they_send_the_same_key_then_two_executions(
    client: TestClient, store: Store
) -> None:
    client.post("/v1/apps", json={"name": "blog", "docker_image": "blog:1"})
    client.post("/v1/apps/blog/job_definitions", json={"job": "mail", "command": ["b"]})

    shop = enqueue(client, {"Idempotency-Key": "k"})
    blog = enqueue(client, {"Idempotency-Key": "k"}, application="blog")

    assert (shop.status_code, blog.status_code) == (201, 201)
    assert shop.json()["message_id"] != blog.json()["message_id"]
    assert len(executions(store)) == 2


@pytest.mark.parametrize(
    "key", ["", "x" * 256, "a\x00b"], ids=["empty", "too-long", "control-character"]
)
@pytest.mark.usefixtures("shop")
def test_given_a_bad_idempotency_key_field_then_422_and_nothing_stored(
    client: TestClient, store: Store, key: str
) -> None:
    assert_error(enqueue(client, idempotency_key=key), 422, "idempotency_key")
    assert executions(store) == []


@pytest.mark.usefixtures("shop")
def test_given_a_keyed_request_with_run_at_when_repeated_then_the_same_execution(
    client: TestClient, store: Store
) -> None:
    run_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    first = enqueue(client, {"Idempotency-Key": "k"}, run_at=run_at)
    second = enqueue(client, {"Idempotency-Key": "k"}, run_at=run_at)

    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.json() == first.json()
    assert len(executions(store)) == 1


# -- run_at ----------------------------------------------------------------------------


@pytest.mark.usefixtures("shop")
def test_given_a_future_run_at_when_enqueued_then_run_after_is_that_time(
    client: TestClient, store: Store
) -> None:
    run_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    in_tokyo = run_at.astimezone(timezone(timedelta(hours=9))).isoformat()

    response = enqueue(client, run_at=in_tokyo)

    assert response.status_code == 201, response.text
    execution = store.get_execution(response.json()["message_id"])
    assert abs(execution.run_after - run_at) < timedelta(seconds=1)
    assert store.claim("w", 30) is None  # not before its time
    body = client.get(f"/v1/job_executions/{execution.message_id}").json()
    assert "delayed until" in body["pending_reason"]


@pytest.mark.usefixtures("shop")
def test_given_a_past_run_at_when_enqueued_then_it_is_runnable_at_once(
    client: TestClient, store: Store
) -> None:
    response = enqueue(client, run_at="2020-01-01T00:00:00Z")

    assert response.status_code == 201, response.text
    claim = store.claim("w", 30)
    assert claim is not None
    assert claim.execution.message_id == response.json()["message_id"]


BAD_RUN_AT: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("naive", {"run_at": "2030-01-01T00:00:00"}, ("run_at",)),
    ("not a time", {"run_at": "tomorrow"}, ("run_at",)),
    (
        "with delay_seconds",
        {"run_at": "2030-01-01T00:00:00Z", "delay_seconds": 5},
        ("delay_seconds", "run_at"),
    ),
    ("more than 30 days", {"run_at": "FAR"}, ("run_at", "30 days")),
]


@pytest.mark.parametrize(
    ("fields", "words"), [case[1:] for case in BAD_RUN_AT], ids=[case[0] for case in BAD_RUN_AT]
)
@pytest.mark.usefixtures("shop")
def test_given_a_bad_run_at_when_enqueued_then_422_and_nothing_stored(
    client: TestClient, store: Store, fields: dict[str, Any], words: tuple[str, ...]
) -> None:
    if fields.get("run_at") == "FAR":
        fields = {"run_at": (datetime.now(UTC) + timedelta(days=30, hours=1)).isoformat()}

    assert_error(enqueue(client, **fields), 422, *words)

    assert executions(store) == []


# -- fields=retries ----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["retries", "attempts"])
@pytest.mark.usefixtures("shop")
def test_given_a_failed_attempt_and_its_retry_when_read_with_retries_then_both_listed(
    client: TestClient, store: Store, field: str
) -> None:
    enqueued = enqueue(client).json()
    run_to_end(store, 7)

    response = client.get(
        f"/v1/job_executions/{enqueued['message_id']}", params={"fields": f"__default__,{field}"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "retried"
    first, retry = body[field]
    assert (first["number"], first["message_id"], first["state"]) == (
        0,
        enqueued["message_id"],
        "ended",
    )
    assert (first["status"], first["reason"], first["exit_code"]) == ("failed", "exited 7", 7)
    assert first["container"] is not None and first["started_at"] is not None
    assert (retry["number"], retry["state"], retry["status"]) == (1, "queued", None)
    assert retry["message_id"] not in (enqueued["message_id"], None)
    assert retry["container"] is None
    run_after = datetime.fromisoformat(retry["run_after"])
    assert run_after == datetime.fromisoformat(body["run_after"])
    assert timedelta(seconds=59) < run_after - datetime.fromisoformat(first["finished_at"])
    assert "retry until" in body["pending_reason"]


@pytest.mark.usefixtures("shop")
def test_given_an_execution_when_read_without_retries_then_they_are_not_listed(
    client: TestClient,
) -> None:
    mid = enqueue(client).json()["message_id"]

    body = client.get(f"/v1/job_executions/{mid}").json()

    assert "retries" not in body
    assert "attempts" not in body
