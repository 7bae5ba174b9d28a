"""barbeque's clients, request for request: what barbeque_client and its ActiveJob adapter send.

The requests are the ones garage_client makes (JSON bodies with every optional
field present, null when not set) and the answers are barbeque's: its statuses,
its error keys, Garage's ``fields`` rules and the revision lock's bodies.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from pitmaster.models import MESSAGE_ENV_LIMIT, AttemptState, ExecutionFilter, Outcome, Status
from pitmaster.store.store import Store

from ..credentials import ADMIN_TOKEN

# What garage_client sends with every request (Faraday, JSON-encoded bodies).
GARAGE_HEADERS = {
    "Accept": "application/json",
    "User-Agent": "garage_client 2.4.5 barbeque_client",
    "Content-Type": "application/json",
    "Authorization": f"Bearer {ADMIN_TOKEN}",
}
JOB = "Admin::NotifyJob"
# ActiveJob::Arguments.serialize of perform_later(42, "hello", notify: true)
ARGUMENTS = [42, "hello", {"notify": True, "_aj_ruby2_keywords": ["notify"]}]


def _post(client: TestClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(path, content=json.dumps(body), headers=GARAGE_HEADERS)


def _enqueue(client: TestClient, **fields: Any) -> httpx.Response:
    """BarbequeClient.enqueue: every field present, as the gem builds its params."""
    body = {
        "application": "blog",
        "job": JOB,
        "message": ARGUMENTS,
        "queue": "default",
        "delay_seconds": None,
    }
    return _post(client, "/v2/job_executions", body | fields)


def _barbeque_error(response: httpx.Response, status: int, error_code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status_code"] == status
    assert body["error_code"] == error_code
    assert isinstance(body["message"], str) and body["message"]
    assert body["error"] == body["message"]
    return str(body["message"])


def _executions(store: Store) -> int:
    return len(store.list_executions(ExecutionFilter(), limit=500).items)


@pytest.fixture
def blog(client: TestClient) -> None:
    """An app ``blog`` with the ActiveJob job ``Admin::NotifyJob``, defined through the API."""
    app = {"name": "blog", "docker_image": "registry.example/blog:v1"}
    assert client.post("/v1/apps", json=app).status_code == 201
    definition = {"job": JOB, "command": ["bundle", "exec", "rake", "barbeque:execute"]}
    created = client.post("/v1/apps/blog/job_definitions", json=definition)
    assert created.status_code == 201, created.text


# -- enqueue ----------------------------------------------------------------------------


@pytest.mark.usefixtures("blog")
def test_given_the_activejob_adapter_when_it_enqueues_with_nulls_then_201_pending(
    client: TestClient, store: Store
) -> None:
    # When perform_later sends delay_seconds: null (and, with no default queue, queue: null)
    response = _enqueue(client, queue=None)

    # Then it is accepted, on the default queue, to run at once, with the message as sent.
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending"
    execution = store.get_execution(body["message_id"])
    assert (execution.job, execution.queue, execution.message) == (JOB, "default", ARGUMENTS)
    assert execution.run_after == execution.created_at


@pytest.mark.usefixtures("blog")
def test_given_enqueue_at_when_it_sends_a_delay_then_it_runs_that_much_later(
    client: TestClient, store: Store
) -> None:
    response = _enqueue(client, delay_seconds=900)

    assert response.status_code == 201, response.text
    execution = store.get_execution(response.json()["message_id"])
    assert (execution.run_after - execution.created_at).total_seconds() == 900


@pytest.mark.usefixtures("blog")
def test_given_an_activejob_payload_as_message_when_enqueued_then_kept_as_sent(
    client: TestClient, store: Store
) -> None:
    payload = {"job_class": JOB, "job_id": "j-1", "queue_name": "default", "arguments": [1, "a"]}

    response = _enqueue(client, message=payload)

    assert response.status_code == 201, response.text
    assert store.get_execution(response.json()["message_id"]).message == payload


@pytest.mark.usefixtures("blog")
@pytest.mark.parametrize("message", [[], False, 0, ""], ids=["empty list", "false", "0", "empty"])
def test_given_a_falsy_message_when_enqueued_then_accepted(
    client: TestClient, store: Store, message: Any
) -> None:
    response = _enqueue(client, message=message)

    assert response.status_code == 201, response.text
    assert store.get_execution(response.json()["message_id"]).message == message


BAD_ENQUEUES = [
    ("no message", {"message": "DROP"}, "message"),
    ("null message", {"message": None}, "message"),
    ("no job", {"job": "DROP"}, "job"),
    ("job not a string", {"job": 7}, "job"),
    ("delay not a number", {"delay_seconds": "soon"}, "delay_seconds"),
    ("negative delay", {"delay_seconds": -1}, "delay_seconds"),
    ("application null", {"application": None}, "application"),
]


@pytest.mark.usefixtures("blog")
@pytest.mark.parametrize(
    ("fields", "named"), [c[1:] for c in BAD_ENQUEUES], ids=[c[0] for c in BAD_ENQUEUES]
)
def test_given_a_missing_or_ill_typed_parameter_when_enqueued_then_400_invalid_parameter(
    client: TestClient, store: Store, fields: dict[str, Any], named: str
) -> None:
    body = {
        "application": "blog",
        "job": JOB,
        "message": ARGUMENTS,
        "queue": "default",
        "delay_seconds": None,
    }
    body = {key: value for key, value in (body | fields).items() if value != "DROP"}

    response = _post(client, "/v2/job_executions", body)

    assert named in _barbeque_error(response, 400, "invalid_parameter")
    assert _executions(store) == 0


@pytest.mark.usefixtures("blog")
def test_given_an_unknown_queue_when_enqueued_then_404_record_not_found(
    client: TestClient, store: Store
) -> None:
    message = _barbeque_error(_enqueue(client, queue="nope"), 404, "record_not_found")

    assert "nope" in message
    assert _executions(store) == 0


# -- job names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "job",
    [
        "Admin::NotifyJob",
        "Deeply::Nested::Mailer::DeliveryJob",
        "notify job",
        "ジョブ",
        "a:b.c-d_e",
    ],
)
def test_given_a_name_barbeque_takes_when_defined_and_enqueued_then_both_accept_it(
    client: TestClient, store: Store, job: str
) -> None:
    assert client.post("/v1/apps", json={"name": "blog", "docker_image": "b:1"}).status_code == 201
    created = client.post("/v1/apps/blog/job_definitions", json={"job": job, "command": ["x"]})
    assert created.status_code == 201, created.text

    response = _enqueue(client, job=job)

    assert response.status_code == 201, response.text
    assert store.get_execution(response.json()["message_id"]).job == job
    shown = client.get(f"/v1/apps/blog/job_definitions/{quote(job, safe='')}")
    assert shown.status_code == 200 and shown.json()["job"] == job
    listed = client.get("/v1/job_executions", params={"job": job}).json()["items"]
    assert [item["job"] for item in listed] == [job]


@pytest.mark.parametrize(
    "job",
    ["Admin/NotifyJob", "Notify\x00Job", "Notify\nJob", "Notify\u202eJob", " Notify", "..", ""],
    ids=["slash", "nul", "newline", "bidi override", "leading space", "dots", "empty"],
)
def test_given_an_unsafe_job_name_when_defined_or_enqueued_then_refused_and_nothing_stored(
    client: TestClient, store: Store, job: str
) -> None:
    assert client.post("/v1/apps", json={"name": "blog", "docker_image": "b:1"}).status_code == 201

    defined = client.post("/v1/apps/blog/job_definitions", json={"job": job, "command": ["x"]})
    enqueued = _enqueue(client, job=job)

    assert defined.status_code == 422, defined.text
    assert "job" in defined.json()["error"]
    _barbeque_error(enqueued, 400, "invalid_parameter")
    assert store.list_job_definitions("blog") == []
    assert _executions(store) == 0


# -- reading an execution: Garage's fields ----------------------------------------------


@pytest.fixture
def enqueued(client: TestClient, blog: None) -> str:
    response = _enqueue(client)
    assert response.status_code == 201
    return str(response.json()["message_id"])


def _read(client: TestClient, message_id: str, fields: str | None) -> httpx.Response:
    params = {"fields": fields} if fields is not None else {}
    return client.get(f"/v1/job_executions/{message_id}", params=params, headers=GARAGE_HEADERS)


def test_given_no_fields_when_read_then_the_defaults_without_opt_in_ones(
    client: TestClient, enqueued: str
) -> None:
    body = _read(client, enqueued, None).json()

    assert {"message_id", "status", "id"} <= set(body)
    assert not {"message", "html_url", "stdout", "retries"} & set(body)


def test_given_default_and_opt_in_fields_when_read_then_both(
    client: TestClient, enqueued: str
) -> None:
    body = _read(client, enqueued, "__default__,html_url,message").json()

    assert {"message_id", "status", "id", "application"} <= set(body)
    assert body["message"] == ARGUMENTS
    assert body["html_url"].endswith(f"/job_executions/{enqueued}")


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ("status", {"status"}),
        ("message_id,message", {"message_id", "message"}),
        ("html_url", {"html_url"}),
        ("status,no_such_field", {"status"}),
        ("message[job_class],status", {"message", "status"}),
        ("   ", None),
    ],
)
def test_given_a_list_without_default_when_read_then_only_those_fields(
    client: TestClient, enqueued: str, fields: str, shown: set[str] | None
) -> None:
    body = _read(client, enqueued, fields).json()

    if shown is None:  # blank: the defaults
        assert {"message_id", "status", "id"} <= set(body) and "message" not in body
    else:
        assert set(body) == shown


def test_given_star_when_read_then_every_field(client: TestClient, enqueued: str) -> None:
    body = _read(client, enqueued, "*").json()

    assert {"message_id", "status", "id", "message", "html_url", "stdout", "retries"} <= set(body)


@pytest.mark.parametrize("fields", ["a,,b", "message[job", "]", ",status"])
def test_given_fields_that_do_not_parse_when_read_then_400_invalid_parameter(
    client: TestClient, enqueued: str, fields: str
) -> None:
    _barbeque_error(_read(client, enqueued, fields), 400, "invalid_parameter")


def test_given_an_unknown_message_id_when_read_then_404_record_not_found(
    client: TestClient,
) -> None:
    response = _read(client, "2a1b3c4d-0000-4000-8000-000000000000", None)

    _barbeque_error(response, 404, "record_not_found")


# -- retries -------------------------------------------------------------------------------


def _fail(store: Store, message_id: str) -> None:
    claim = store.claim("w", 30)
    assert claim is not None and claim.execution.message_id == message_id
    assert store.record_outcome(claim.attempt_id, Outcome(Status.FAILED, "exited 1", 1))


def test_given_a_failed_execution_when_retried_with_null_delay_then_201_pending_at_once(
    client: TestClient, store: Store, enqueued: str
) -> None:
    _fail(store, enqueued)

    # ExponentialRetry sends an integer; a client may leave it null.
    response = _post(client, f"/v1/job_executions/{enqueued}/retries", {"delay_seconds": None})

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending" and body["message_id"] != enqueued
    execution = store.get_execution(enqueued)
    [_, retry] = store.attempts_of(execution.id)
    assert (retry.message_id, retry.state) == (body["message_id"], AttemptState.QUEUED)
    assert execution.run_after <= store.now()  # no delay: it may run at once


@pytest.mark.parametrize("delay", [-1, "soon", 1.5e12])
def test_given_a_bad_retry_delay_when_retried_then_400_and_no_retry(
    client: TestClient, store: Store, enqueued: str, delay: Any
) -> None:
    _fail(store, enqueued)

    response = _post(client, f"/v1/job_executions/{enqueued}/retries", {"delay_seconds": delay})

    assert "delay_seconds" in _barbeque_error(response, 400, "invalid_parameter")
    assert len(store.attempts_of(store.get_execution(enqueued).id)) == 1


def test_given_an_unknown_execution_when_retried_then_404_record_not_found(
    client: TestClient,
) -> None:
    response = _post(client, "/v1/job_executions/2a1b3c4d-0000-4000-8000-000000000000/retries", {})

    _barbeque_error(response, 404, "record_not_found")


# -- revision lock --------------------------------------------------------------------------


@pytest.mark.usefixtures("blog")
def test_given_an_app_when_its_revision_is_locked_and_unlocked_then_barbeques_answers(
    client: TestClient, store: Store
) -> None:
    locked = _post(client, "/v1/apps/blog/revision_lock", {"revision": "0123abc"})

    assert locked.status_code == 201, locked.text
    assert locked.json() == {"revision": "0123abc"}
    assert store.get_app("blog").image_to_run == "registry.example/blog:0123abc"

    unlocked = client.delete("/v1/apps/blog/revision_lock", headers=GARAGE_HEADERS)

    assert unlocked.status_code == 204
    assert unlocked.content == b""
    # pitmaster's documented difference: back to the image as configured.
    assert store.get_app("blog").image_to_run == "registry.example/blog:v1"


def test_given_no_such_app_when_locked_or_unlocked_then_404_record_not_found(
    client: TestClient,
) -> None:
    _barbeque_error(
        _post(client, "/v1/apps/nope/revision_lock", {"revision": "v2"}), 404, "record_not_found"
    )
    _barbeque_error(client.delete("/v1/apps/nope/revision_lock"), 404, "record_not_found")


@pytest.mark.usefixtures("blog")
@pytest.mark.parametrize("body", [{}, {"revision": None}, {"revision": 7}])
def test_given_no_revision_when_locked_then_400_invalid_parameter(
    client: TestClient, store: Store, body: dict[str, Any]
) -> None:
    _barbeque_error(_post(client, "/v1/apps/blog/revision_lock", body), 400, "invalid_parameter")
    assert store.get_app("blog").revision_lock is None


# -- large messages -------------------------------------------------------------------------


def _define(client: TestClient, job: str, delivery: str | None) -> None:
    body: dict[str, Any] = {"job": job, "command": ["x"]}
    if delivery is not None:
        body["message_delivery"] = delivery
    created = client.post("/v1/apps/blog/job_definitions", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["message_delivery"] == (delivery or "auto")


@pytest.mark.usefixtures("blog")
@pytest.mark.parametrize(
    ("delivery", "status"), [("env", 413), ("auto", 201), ("file", 201), (None, 201)]
)
def test_given_a_message_too_big_for_the_environment_when_enqueued_then_only_env_refuses_it(
    client: TestClient, store: Store, delivery: str | None, status: int
) -> None:
    _define(client, "Big", delivery)
    big = {"blob": "x" * MESSAGE_ENV_LIMIT}

    response = _enqueue(client, job="Big", message=big)

    assert response.status_code == status, response.text
    if status == 413:
        message = _barbeque_error(response, 413, "payload_too_large")
        assert "BARBEQUE_MESSAGE" in message and "message_delivery" in message
        assert _executions(store) == 0


@pytest.mark.usefixtures("blog")
def test_given_env_delivery_when_the_message_just_fits_then_accepted(
    client: TestClient,
) -> None:
    _define(client, "Fits", "env")
    overhead = len(json.dumps({"blob": ""}))
    fits = {"blob": "x" * (MESSAGE_ENV_LIMIT - overhead)}
    assert len(json.dumps(fits).encode()) == MESSAGE_ENV_LIMIT

    assert _enqueue(client, job="Fits", message=fits).status_code == 201
    assert _enqueue(client, job="Fits", message={"blob": fits["blob"] + "é"}).status_code == 413


@pytest.mark.usefixtures("blog")
def test_given_a_job_definition_when_its_message_delivery_is_patched_then_it_changes(
    client: TestClient,
) -> None:
    path = f"/v1/apps/blog/job_definitions/{JOB}"

    patched = client.patch(path, json={"message_delivery": "env"})
    bad = client.patch(path, json={"message_delivery": "carrier pigeon"})

    assert patched.status_code == 200 and patched.json()["message_delivery"] == "env"
    assert bad.status_code == 422 and "message_delivery" in bad.json()["error"]
    assert client.get(path).json()["message_delivery"] == "env"
