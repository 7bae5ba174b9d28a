"""The HTTP API through FastAPI's TestClient, on a real SQLite store."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from pitmaster.models import DEFAULT_QUEUE, ExecutionFilter, Status
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.testing import FakeExecutor
from pitmaster.worker.poller import Poller
from pitmaster.worker.runner import Runner

from ..api_errors import error_text
from .conftest import serving

MAX_MESSAGE_BYTES = 256 * 1024
DEFAULT_FIELDS = {
    "message_id",
    "status",
    "id",
    "application",
    "job",
    "queue",
    "created_at",
    "run_after",
    "started_at",
    "finished_at",
    "exit_code",
    "reason",
    "output_pending",
    "priority",
    "pending_reason",
}


@pytest.fixture
def defined(client: TestClient) -> None:
    """An app ``shop`` with a job ``mail``, and a queue ``mailers``, made through the API."""
    assert (
        client.post("/v1/apps", json={"name": "shop", "docker_image": "shop:1"}).status_code == 201
    )
    created = client.post("/v1/apps/shop/job_definitions", json={"job": "mail", "command": ["m"]})
    assert created.status_code == 201
    assert client.post("/v1/job_queues", json={"name": "mailers"}).status_code == 201


def _counts(store: Store) -> dict[str, int]:
    """How many of each thing are stored: bad input must leave every count unchanged."""
    apps = store.list_apps()
    return {
        "executions": len(store.list_executions(ExecutionFilter(), limit=500).items),
        "apps": len(apps),
        "job_definitions": sum(len(store.list_job_definitions(app.name)) for app in apps),
        "queues": len(store.list_queues()),
    }


def _assert_error(response: httpx.Response, status: int, *words: str) -> str:
    """A JSON error with this status (barbeque's on its routes) naming each of ``words``."""
    return error_text(response, status, *words)


def _enqueue(client: TestClient, **overrides: Any) -> httpx.Response:
    body: dict[str, Any] = {"application": "shop", "job": "mail", "message": {"n": 1}}
    body.update(overrides)
    return client.post("/v2/job_executions", json=body)


# -- apps -------------------------------------------------------------------------


def test_given_no_apps_when_an_app_is_created_read_updated_and_deleted_then_each_answers(
    client: TestClient, store: Store
) -> None:
    created = client.post(
        "/v1/apps", json={"name": "shop", "docker_image": "shop:1", "description": "d"}
    )
    assert created.status_code == 201
    assert {k: created.json()[k] for k in ("name", "docker_image", "description")} == {
        "name": "shop",
        "docker_image": "shop:1",
        "description": "d",
    }
    assert store.get_app("shop").docker_image == "shop:1"

    fetched = client.get("/v1/apps/shop")
    assert (fetched.status_code, fetched.json()["docker_image"]) == (200, "shop:1")
    listed = client.get("/v1/apps")
    assert (listed.status_code, [app["name"] for app in listed.json()]) == (200, ["shop"])

    updated = client.patch("/v1/apps/shop", json={"docker_image": "shop:2"})
    assert (updated.status_code, updated.json()["docker_image"]) == (200, "shop:2")
    assert updated.json()["description"] == "d"
    assert store.get_app("shop").docker_image == "shop:2"

    deleted = client.delete("/v1/apps/shop")
    assert (deleted.status_code, deleted.content) == (204, b"")
    _assert_error(client.get("/v1/apps/shop"), 404, "app 'shop' does not exist")
    assert store.list_apps() == []


def test_given_an_app_when_created_again_then_409_and_the_first_stays(
    client: TestClient, store: Store
) -> None:
    assert client.post("/v1/apps", json={"name": "shop", "docker_image": "a:1"}).status_code == 201

    response = client.post("/v1/apps", json={"name": "shop", "docker_image": "b:1"})

    _assert_error(response, 409, "shop", "already exists")
    assert store.get_app("shop").docker_image == "a:1"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/apps/ghost"), ("PATCH", "/v1/apps/ghost"), ("DELETE", "/v1/apps/ghost")],
)
def test_given_no_app_when_addressed_then_404_names_it(
    client: TestClient, method: str, path: str
) -> None:
    body = {"description": "x"} if method == "PATCH" else None

    response = client.request(method, path, json=body)

    _assert_error(response, 404, "app 'ghost' does not exist")


# -- job definitions ----------------------------------------------------------------


def test_given_an_app_when_a_job_definition_is_created_read_updated_deleted_then_each_answers(
    client: TestClient, store: Store
) -> None:
    client.post("/v1/apps", json={"name": "shop", "docker_image": "shop:1"})

    created = client.post(
        "/v1/apps/shop/job_definitions", json={"job": "mail", "command": ["ruby", "m.rb"]}
    )
    assert created.status_code == 201
    assert {k: created.json()[k] for k in ("application", "job", "command")} == {
        "application": "shop",
        "job": "mail",
        "command": ["ruby", "m.rb"],
    }

    fetched = client.get("/v1/apps/shop/job_definitions/mail")
    assert (fetched.status_code, fetched.json()["command"]) == (200, ["ruby", "m.rb"])
    listed = client.get("/v1/apps/shop/job_definitions")
    assert (listed.status_code, [d["job"] for d in listed.json()]) == (200, ["mail"])

    updated = client.patch("/v1/apps/shop/job_definitions/mail", json={"command": ["go"]})
    assert (updated.status_code, updated.json()["command"]) == (200, ["go"])
    assert store.get_job_definition("shop", "mail").command == ("go",)

    assert client.delete("/v1/apps/shop/job_definitions/mail").status_code == 204
    _assert_error(client.get("/v1/apps/shop/job_definitions/mail"), 404, "shop/mail")


def test_given_a_job_definition_when_created_again_then_409(
    client: TestClient, store: Store
) -> None:
    client.post("/v1/apps", json={"name": "shop", "docker_image": "shop:1"})
    body = {"job": "mail", "command": ["a"]}
    assert client.post("/v1/apps/shop/job_definitions", json=body).status_code == 201

    response = client.post("/v1/apps/shop/job_definitions", json={"job": "mail", "command": ["b"]})

    _assert_error(response, 409, "shop/mail", "already exists")
    assert store.get_job_definition("shop", "mail").command == ("a",)


def test_given_no_app_when_defining_a_job_then_404_names_the_app(
    client: TestClient, store: Store
) -> None:
    response = client.post("/v1/apps/ghost/job_definitions", json={"job": "j", "command": ["x"]})

    _assert_error(response, 404, "app 'ghost'")
    _assert_error(client.get("/v1/apps/ghost/job_definitions"), 404, "app 'ghost'")
    assert _counts(store)["job_definitions"] == 0


# -- queues -----------------------------------------------------------------------


def test_given_the_default_queue_when_queues_are_managed_then_each_call_answers(
    client: TestClient, store: Store
) -> None:
    listed = client.get("/v1/job_queues")
    assert (listed.status_code, [q["name"] for q in listed.json()]) == (200, [DEFAULT_QUEUE])

    created = client.post("/v1/job_queues", json={"name": "batch", "description": "slow"})
    assert (created.status_code, created.json()["name"]) == (201, "batch")
    fetched = client.get("/v1/job_queues/batch")
    assert (fetched.status_code, fetched.json()["description"]) == (200, "slow")
    updated = client.patch("/v1/job_queues/batch", json={"description": "slower"})
    assert (updated.status_code, updated.json()["description"]) == (200, "slower")

    assert client.delete("/v1/job_queues/batch").status_code == 204
    _assert_error(client.get("/v1/job_queues/batch"), 404, "job queue 'batch' does not exist")
    _assert_error(client.delete("/v1/job_queues/batch"), 404, "'batch'")
    assert [queue.name for queue in store.list_queues()] == [DEFAULT_QUEUE]


def test_given_a_queue_when_created_again_then_409(client: TestClient) -> None:
    _assert_error(client.post("/v1/job_queues", json={"name": DEFAULT_QUEUE}), 409, "exists")


def test_given_the_default_queue_when_deleted_then_409_and_it_stays(
    client: TestClient, store: Store
) -> None:
    _assert_error(client.delete(f"/v1/job_queues/{DEFAULT_QUEUE}"), 409, "default")

    assert [queue.name for queue in store.list_queues()] == [DEFAULT_QUEUE]


@pytest.mark.usefixtures("defined")
def test_given_a_queue_with_pending_work_when_deleted_then_409_and_it_stays(
    client: TestClient, store: Store
) -> None:
    assert _enqueue(client, queue="mailers").status_code == 201

    _assert_error(client.delete("/v1/job_queues/mailers"), 409, "mailers", "pending")

    assert store.get_queue("mailers").name == "mailers"


# -- enqueue ----------------------------------------------------------------------


@pytest.mark.usefixtures("defined")
def test_given_a_defined_job_when_enqueued_then_201_and_the_row_is_committed(
    client: TestClient, store: Store
) -> None:
    response = _enqueue(client, queue="mailers", message={"to": "ü@example.com"})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"message_id", "status", "id"}
    assert body["status"] == "pending"
    stored = store.get_execution(body["message_id"])
    assert stored.id == body["id"]
    assert (stored.application, stored.job, stored.queue) == ("shop", "mail", "mailers")
    assert stored.message == {"to": "ü@example.com"}
    assert stored.status is Status.PENDING


@pytest.mark.usefixtures("defined")
def test_given_no_queue_when_enqueued_then_it_lands_on_default(
    client: TestClient, store: Store
) -> None:
    response = client.post(
        "/v2/job_executions", json={"application": "shop", "job": "mail", "message": {}}
    )

    assert response.status_code == 201
    stored = store.get_execution(response.json()["message_id"])
    assert (stored.queue, stored.message) == (DEFAULT_QUEUE, {})


@pytest.mark.usefixtures("defined")
def test_given_a_delay_when_enqueued_then_run_after_is_that_much_later(
    client: TestClient, store: Store
) -> None:
    response = _enqueue(client, delay_seconds=90)

    stored = store.get_execution(response.json()["message_id"])
    assert (stored.run_after - stored.created_at).total_seconds() == pytest.approx(90)


@pytest.mark.usefixtures("defined")
def test_given_a_message_of_exactly_the_limit_when_enqueued_then_accepted(
    client: TestClient, store: Store
) -> None:
    message = "x" * (MAX_MESSAGE_BYTES - 2)  # two bytes of JSON quotes
    assert len(json.dumps(message).encode()) == MAX_MESSAGE_BYTES

    response = _enqueue(client, message=message)

    assert response.status_code == 201
    assert store.get_execution(response.json()["message_id"]).message == message


@pytest.mark.usefixtures("defined")
def test_given_the_enqueue_hook_when_enqueued_then_it_is_called_once(
    settings: Settings, store: Store
) -> None:
    calls: list[None] = []
    with serving(settings, store, on_enqueue=lambda: calls.append(None)) as hooked:
        assert _enqueue(hooked).status_code == 201
        assert _enqueue(hooked, application="ghost").status_code == 404

    assert calls == [None]


@pytest.mark.usefixtures("defined")
def test_given_a_cancelled_execution_when_retried_through_the_api_then_the_worker_is_woken(
    settings: Settings, store: Store
) -> None:
    # Given a cancelled execution, and the hook that wakes the worker beside the server
    execution = store.enqueue("shop", "mail", "default", {}, app_id=store.get_app("shop").id)
    store.cancel(execution.message_id)
    calls: list[None] = []
    with serving(settings, store, on_enqueue=lambda: calls.append(None)) as hooked:
        # When it is retried through the API
        response = hooked.post(f"/v1/job_executions/{execution.message_id}/retries", json={})

    # Then the worker is woken, as a retry from the console wakes it
    assert response.status_code == 201
    assert calls == [None]


# -- reading executions ---------------------------------------------------------------


@pytest.mark.usefixtures("defined")
def test_given_an_execution_when_read_then_default_fields_only(client: TestClient) -> None:
    enqueued = _enqueue(client, message={"secret": "not by default"}).json()

    response = client.get(f"/v1/job_executions/{enqueued['message_id']}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == DEFAULT_FIELDS
    assert (body["message_id"], body["id"], body["status"]) == (
        enqueued["message_id"],
        enqueued["id"],
        "pending",
    )
    assert (body["application"], body["job"], body["queue"]) == ("shop", "mail", DEFAULT_QUEUE)
    assert isinstance(body["pending_reason"], str) and body["pending_reason"]
    assert client.get(f"/v1/job_executions/{enqueued['id']}").json() == body


@pytest.mark.usefixtures("defined")
def test_given_an_ended_execution_when_read_with_fields_then_message_logs_and_url(
    client: TestClient, store: Store
) -> None:
    message = {"text": "日本語 🍖", "list": [1, None, True]}
    enqueued = _enqueue(client, message=message).json()
    executor = FakeExecutor()
    assert Runner(store, executor, "w", 30).run_once()
    (name,) = executor.containers
    executor.finish(name, 2, stdout="to stdout\n", stderr="to stderr\n")
    assert Poller(store, executor, 4096).sweep() == 1

    response = client.get(
        f"/v1/job_executions/{enqueued['message_id']}",
        params={"fields": "__default__,message,stdout,stderr,html_url"},
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == DEFAULT_FIELDS | {"message", "stdout", "stderr", "html_url"}
    assert (body["status"], body["exit_code"], body["reason"]) == ("failed", 2, "exited 2")
    assert body["message"] == message
    assert (body["stdout"], body["stderr"]) == ("to stdout\n", "to stderr\n")
    assert body["html_url"] == f"http://testserver/job_executions/{enqueued['message_id']}"


@pytest.mark.usefixtures("defined")
def test_given_a_public_url_when_html_url_asked_then_it_is_built_on_it(
    settings: Settings, store: Store, client: TestClient
) -> None:
    mid = _enqueue(client).json()["message_id"]
    public = settings.model_copy(update={"public_url": "https://jobs.example.com/pm/"})

    with serving(public, store) as other:
        body = other.get(f"/v1/job_executions/{mid}", params={"fields": "html_url"}).json()

    assert body["html_url"] == f"https://jobs.example.com/pm/job_executions/{mid}"


@pytest.mark.usefixtures("defined")
def test_given_a_pending_execution_when_stdout_asked_then_null(client: TestClient) -> None:
    mid = _enqueue(client).json()["message_id"]

    body = client.get(f"/v1/job_executions/{mid}", params={"fields": "stdout,message"}).json()

    assert (body["stdout"], body["message"]) == (None, {"n": 1})


def test_given_no_execution_when_read_then_404(client: TestClient) -> None:
    _assert_error(client.get("/v1/job_executions/nope"), 404, "'nope' does not exist")


@pytest.mark.usefixtures("defined")
def test_given_executions_when_listed_then_newest_first_with_filters_and_cursor(
    client: TestClient, store: Store
) -> None:
    client.post("/v1/apps", json={"name": "blog", "docker_image": "blog:1"})
    client.post("/v1/apps/blog/job_definitions", json={"job": "mail", "command": ["b"]})
    shop = [_enqueue(client, message=n).json()["id"] for n in range(5)]
    blog = _enqueue(client, application="blog", queue="mailers").json()["id"]
    claim = store.claim("w", 30)  # the oldest: shop[0]
    assert claim is not None
    assert claim.execution.id == shop[0]
    assert Runner(store, FakeExecutor(missing_images={"shop:1"}), "w", 30).run_once() is True

    everything = client.get("/v1/job_executions").json()
    assert [item["id"] for item in everything["items"]] == [blog, *reversed(shop)]
    assert everything["next_cursor"] is None

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"application": "shop", "limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get("/v1/job_executions", params=params)
        assert page.status_code == 200
        seen += [item["id"] for item in page.json()["items"]]
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (list(reversed(shop)), 3)

    def ids(**params: str) -> list[int]:
        response = client.get("/v1/job_executions", params=params)
        assert response.status_code == 200
        return [item["id"] for item in response.json()["items"]]

    assert ids(queue="mailers") == [blog]
    assert ids(application="blog", job="mail") == [blog]
    assert ids(status="error") == [shop[1]]
    assert ids(status="pending", application="shop") == [shop[4], shop[3], shop[2], shop[0]]
    assert ids(application="ghost") == []


# -- bad input: a clear 4xx, and nothing changes ----------------------------------------


def _post_raw(client: TestClient, path: str, content: bytes) -> httpx.Response:
    return client.post(path, content=content, headers={"content-type": "application/json"})


BAD_ENQUEUES: list[tuple[str, Any, int, tuple[str, ...]]] = [
    (
        "unknown application",
        {"application": "ghost", "job": "mail", "message": {}},
        404,
        ("'ghost'",),
    ),
    (
        "unknown job",
        {"application": "shop", "job": "ghost", "message": {}},
        404,
        ("'ghost'", "shop"),
    ),
    (
        "unknown queue",
        {"application": "shop", "job": "mail", "queue": "ghost", "message": {}},
        404,
        ("queue 'ghost'",),
    ),
    ("missing application", {"job": "mail"}, 422, ("application is required",)),
    ("missing job", {"application": "shop"}, 422, ("job is required",)),
    ("json array", [{"application": "shop", "job": "mail"}], 400, ("json object",)),
    ("json string", "shop/mail", 400, ("json object",)),
    ("json number", 42, 400, ("json object",)),
    ("json null", b"null", 400, ("json object",)),
    ("json boolean", b"true", 400, ("json object",)),
    ("bad application name", {"application": "sh op", "job": "mail"}, 422, ("application",)),
    ("bad job name", {"application": "shop", "job": "../mail"}, 422, ("job", "'/'")),
    ("bad queue name", {"application": "shop", "job": "mail", "queue": "q;"}, 422, ("queue",)),
    ("newline in name", {"application": "shop\n", "job": "mail"}, 422, ("application",)),
    ("empty name", {"application": "", "job": "mail"}, 422, ("application",)),
    ("name too long", {"application": "a" * 256, "job": "mail"}, 422, ("application",)),
    (
        "negative delay",
        {"application": "shop", "job": "mail", "delay_seconds": -1},
        422,
        ("delay_seconds",),
    ),
    (
        "delay not a number",
        {"application": "shop", "job": "mail", "delay_seconds": "soon"},
        422,
        ("delay_seconds",),
    ),
    (
        "delay too long",
        {"application": "shop", "job": "mail", "delay_seconds": 10**9},
        422,
        ("delay_seconds",),
    ),
    (
        "unknown field",
        {"application": "shop", "job": "mail", "urgency": 1},
        400,
        ("urgency",),
    ),
    (
        "message over 256 KiB",
        {"application": "shop", "job": "mail", "message": "x" * (MAX_MESSAGE_BYTES - 1)},
        413,
        ("message", str(MAX_MESSAGE_BYTES)),
    ),
    (
        "NaN message",
        b'{"application": "shop", "job": "mail", "message": NaN}',
        422,
        ("message", "json"),
    ),
    (
        "Infinity inside the message",
        b'{"application": "shop", "job": "mail", "message": [1, -Infinity]}',
        422,
        ("message", "json"),
    ),
    (
        "lone surrogate in the message",
        b'{"application": "shop", "job": "mail", "message": {"\\ud800": 1}}',
        422,
        ("message",),
    ),
    (
        "NaN delay",
        b'{"application": "shop", "job": "mail", "delay_seconds": NaN}',
        422,
        ("delay_seconds", "finite"),
    ),
    (
        "Infinity delay",
        b'{"application": "shop", "job": "mail", "delay_seconds": Infinity}',
        422,
        ("delay_seconds", "finite"),
    ),
    (
        "lone surrogate in the job name",
        b'{"application": "shop", "job": "\\udfff"}',
        422,
        ("job",),
    ),
    (
        "multibyte message over 256 KiB",
        {"application": "shop", "job": "mail", "message": "é" * (MAX_MESSAGE_BYTES // 2)},
        413,
        ("message",),
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [case[1:] for case in BAD_ENQUEUES],
    ids=[case[0] for case in BAD_ENQUEUES],
)
@pytest.mark.usefixtures("defined")
def test_given_bad_enqueue_input_then_4xx_naming_the_problem_and_nothing_stored(
    client: TestClient, store: Store, body: Any, status: int, words: tuple[str, ...]
) -> None:
    before = _counts(store)

    if isinstance(body, bytes):
        response = _post_raw(client, "/v2/job_executions", body)
    else:
        response = client.post("/v2/job_executions", json=body)

    _assert_error(response, status, *words)
    assert _counts(store) == before


MALFORMED_BODIES: list[tuple[str, bytes, tuple[str, ...]]] = [
    ("truncated", b'{"application": "shop", "job": ', ("not valid json",)),
    ("single quotes", b"{'application': 'shop'}", ("not valid json",)),
    ("trailing garbage", b'{"application": "shop", "job": "mail"} x', ("not valid json",)),
    ("not utf-8", b'{"application": "\xff\xfe"}', ()),
    ("deeply nested", b'{"message": ' + b"[" * 100_000, ()),
]


@pytest.mark.parametrize(
    ("content", "words"),
    [case[1:] for case in MALFORMED_BODIES],
    ids=[case[0] for case in MALFORMED_BODIES],
)
@pytest.mark.usefixtures("defined")
def test_given_malformed_json_when_enqueued_then_400_and_nothing_stored(
    client: TestClient, store: Store, content: bytes, words: tuple[str, ...]
) -> None:
    before = _counts(store)

    response = _post_raw(client, "/v2/job_executions", content)

    _assert_error(response, 400, *words)
    assert _counts(store) == before


BAD_MANAGEMENT: list[tuple[str, str, str, Any, int, tuple[str, ...]]] = [
    ("app name with space", "POST", "/v1/apps", {"name": "my app", "docker_image": "i"}, 422, ()),
    ("app name with slash", "POST", "/v1/apps", {"name": "a/b", "docker_image": "i"}, 422, ()),
    ("app unicode name", "POST", "/v1/apps", {"name": "café", "docker_image": "i"}, 422, ()),
    ("app without image", "POST", "/v1/apps", {"name": "shop2"}, 422, ("docker_image",)),
    (
        "app image with space",
        "POST",
        "/v1/apps",
        {"name": "shop2", "docker_image": "a b"},
        422,
        ("docker_image",),
    ),
    ("app as array", "POST", "/v1/apps", [{"name": "x", "docker_image": "i"}], 400, ("object",)),
    (
        "app rename",
        "PATCH",
        "/v1/apps/shop",
        {"name": "other"},
        400,
        ("name",),
    ),
    ("queue bad name", "POST", "/v1/job_queues", {"name": "q w"}, 422, ("name",)),
    ("queue missing name", "POST", "/v1/job_queues", {}, 422, ("name is required",)),
    ("queue as string", "POST", "/v1/job_queues", "batch", 400, ("object",)),
    (
        "empty command",
        "POST",
        "/v1/apps/shop/job_definitions",
        {"job": "j2", "command": []},
        422,
        ("command",),
    ),
    (
        "command as a string",
        "POST",
        "/v1/apps/shop/job_definitions",
        {"job": "j2", "command": "echo hi"},
        422,
        ("command",),
    ),
    (
        "command missing",
        "POST",
        "/v1/apps/shop/job_definitions",
        {"job": "j2"},
        422,
        ("command is required",),
    ),
    (
        "command with a number",
        "POST",
        "/v1/apps/shop/job_definitions",
        {"job": "j2", "command": ["sleep", 5]},
        422,
        ("command",),
    ),
    (
        "empty program name",
        "POST",
        "/v1/apps/shop/job_definitions",
        {"job": "j2", "command": [""]},
        422,
        ("command", "program"),
    ),
    (
        "blank program name",
        "POST",
        "/v1/apps/shop/job_definitions",
        {"job": "j2", "command": ["  ", "x"]},
        422,
        ("command", "program"),
    ),
    (
        "NUL in an argument",
        "POST",
        "/v1/apps/shop/job_definitions",
        {"job": "j2", "command": ["echo", "a\x00b"]},
        422,
        ("command", "control characters"),
    ),
    (
        "escape sequence in a description",
        "PATCH",
        "/v1/apps/shop",
        {"description": "\x1b[31mred"},
        422,
        ("description", "control characters"),
    ),
    (
        "lone surrogate in a description",
        "POST",
        "/v1/job_queues",
        b'{"name": "q2", "description": "\\ud800"}',
        422,
        ("description",),
    ),
    (
        "job bad name",
        "POST",
        "/v1/apps/shop/job_definitions",
        {"job": "j/2", "command": ["x"]},
        422,
        ("job",),
    ),
    (
        "update to empty command",
        "PATCH",
        "/v1/apps/shop/job_definitions/mail",
        {"command": []},
        422,
        ("command",),
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [case[1:] for case in BAD_MANAGEMENT],
    ids=[case[0] for case in BAD_MANAGEMENT],
)
@pytest.mark.usefixtures("defined")
def test_given_bad_management_input_then_4xx_naming_the_problem_and_nothing_changes(
    client: TestClient,
    store: Store,
    method: str,
    path: str,
    body: Any,
    status: int,
    words: tuple[str, ...],
) -> None:
    before = _counts(store)
    app_before = store.get_app("shop")
    definition_before = store.get_job_definition("shop", "mail")

    if isinstance(body, bytes):
        headers = {"content-type": "application/json"}
        response = client.request(method, path, content=body, headers=headers)
    else:
        response = client.request(method, path, json=body)

    text = _assert_error(response, status, *words)
    if status == 422 and not words:
        assert "[A-Za-z0-9_.-]+" in text
    assert _counts(store) == before
    assert store.get_app("shop") == app_before
    assert store.get_job_definition("shop", "mail") == definition_before


BAD_READS: list[tuple[str, str, dict[str, str], tuple[str, ...]]] = [
    ("fields not parsing", "/v1/job_executions/{mid}", {"fields": "__default__,,x"}, ("fields",)),
    ("fields unclosed", "/v1/job_executions/{mid}", {"fields": "message[x"}, ("fields",)),
    ("bad cursor", "/v1/job_executions", {"cursor": "abc"}, ("cursor",)),
    ("negative cursor", "/v1/job_executions", {"cursor": "-5"}, ("cursor",)),
    ("unknown status", "/v1/job_executions", {"status": "done"}, ("status",)),
    ("limit zero", "/v1/job_executions", {"limit": "0"}, ("limit",)),
    ("limit too big", "/v1/job_executions", {"limit": "100000"}, ("limit",)),
    ("limit not a number", "/v1/job_executions", {"limit": "ten"}, ("limit",)),
]


@pytest.mark.parametrize(
    ("path", "params", "words"),
    [case[1:] for case in BAD_READS],
    ids=[case[0] for case in BAD_READS],
)
@pytest.mark.usefixtures("defined")
def test_given_bad_read_parameters_then_422_naming_the_problem(
    client: TestClient, path: str, params: dict[str, str], words: tuple[str, ...]
) -> None:
    mid = _enqueue(client).json()["message_id"]

    response = client.get(path.format(mid=mid), params=params)

    _assert_error(response, 422, *words)


def test_given_an_unknown_route_then_json_404(client: TestClient) -> None:
    _assert_error(client.get("/v1/nothing-here"), 404)
    _assert_error(client.put("/v1/apps"), 405)


# -- odd references ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/job_executions/" + "9" * 30, {}, 404),
        ("/v1/job_executions", {"cursor": "9" * 30}, 422),
    ],
    ids=["id beyond 64 bits", "cursor beyond 64 bits"],
)
def test_given_a_huge_number_as_reference_then_4xx(
    client: TestClient, path: str, params: dict[str, str], status: int
) -> None:
    _assert_error(client.get(path, params=params), status)


@pytest.mark.parametrize(
    ("path", "params"),
    [("/v1/job_executions/²", {}), ("/v1/job_executions", {"cursor": "²"})],
    ids=["superscript id", "superscript cursor"],
)
def test_given_a_superscript_digit_as_reference_then_4xx_not_500(
    client: TestClient, path: str, params: dict[str, str]
) -> None:
    response = client.get(path, params=params)

    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert "error" in response.json()


@pytest.mark.parametrize(
    "headers", [{"content-type": "application/json"}, {}], ids=["json", "no content-type"]
)
def test_given_an_empty_body_when_enqueued_then_the_error_names_the_body(
    client: TestClient, store: Store, headers: dict[str, str]
) -> None:
    before = _counts(store)

    response = client.post("/v2/job_executions", content=b"", headers=headers)

    assert _counts(store) == before
    assert response.status_code in (400, 422)
    _assert_error(response, response.status_code, "body")
