"""Input a tenant or a stranger crafts to make the server fail: a 4xx, never a 5xx, on both databases.

Every client here comes from ``serving``, which fails the test on any 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from pitmaster.models import MAX_MESSAGE_DEPTH, ExecutionFilter
from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.services.inputs import MAX_MEMORY
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.web.pages import common as pages

from ..credentials import ADMIN
from .conftest import form_token, log_in, serving


def _nested(depth: int) -> Any:
    message: Any = "bottom"
    for _ in range(depth):
        message = [message]
    return message


@pytest.fixture
def shop_client(settings: Settings, store: Store) -> Iterator[TestClient]:
    """The API as an app token of ``shop`` (which has a job ``mail``)."""
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    with serving(settings, store, token=tokens.create_token(store, "shop", "")[1]) as client:
        yield client


# -- 6: deeply nested messages --------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_MESSAGE_DEPTH + 1, 256, 900])
def test_given_a_message_nested_too_deep_when_enqueued_then_400_and_nothing_stored(
    shop_client: TestClient, store: Store, depth: int
) -> None:
    body = {"application": "shop", "job": "mail", "message": _nested(depth)}

    response = shop_client.post("/v2/job_executions", json=body)

    assert response.status_code == 400, response.text
    assert f"at most {MAX_MESSAGE_DEPTH}" in response.json()["error"]
    assert store.list_executions(ExecutionFilter(), limit=10).items == []


def test_given_a_message_at_the_depth_limit_then_it_is_stored_and_read_back(
    shop_client: TestClient,
) -> None:
    body = {"application": "shop", "job": "mail", "message": _nested(MAX_MESSAGE_DEPTH - 1)}

    made = shop_client.post("/v2/job_executions", json=body)

    assert made.status_code == 201
    read = shop_client.get(f"/v1/job_executions/{made.json()['message_id']}?fields=message")
    assert read.json()["message"] == body["message"]


def test_given_a_deep_message_stored_before_the_limit_then_every_read_of_it_answers(
    settings: Settings, store: Store, shop_client: TestClient
) -> None:
    # Given a 600-deep message in the database (enqueue took those once).
    stored = store.enqueue("shop", "mail", "default", _nested(600)).message_id

    # When it is read through the API and the console, then it comes back as JSON text.
    read = shop_client.get(f"/v1/job_executions/{stored}?fields=message")
    assert read.status_code == 200
    assert isinstance(read.json()["message"], str) and read.json()["message"].startswith("[[[")
    with serving(settings, store) as console:
        log_in(console)
        assert console.get(f"/job_executions/{stored}").status_code == 200


# -- 7: non-ASCII CSRF tokens; every 500 shaped like every other error -----------------


@pytest.mark.parametrize(("cookie", "field"), [("é", "é"), ("a" * 64, "é"), ("é", "a" * 64)])
def test_given_a_non_ascii_csrf_token_when_a_form_is_posted_then_403_not_500(
    settings: Settings, store: Store, cookie: str, field: str
) -> None:
    with serving(settings, store, token=None) as client:
        response = client.post(
            "/login",
            content=f"token=x&next=/&csrf_token={quote(field)}",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"pitmaster_csrf={quote(cookie)}",
            },
        )
    assert response.status_code == 403
    assert response.headers["X-Frame-Options"] == "DENY"


def test_given_an_unexpected_failure_then_the_500_is_json_or_the_error_page_with_headers(
    settings: Settings, store: Store
) -> None:
    # Given a route that fails unexpectedly, under the API and in the console.
    tokens.ensure_admin_tokens(settings, store)
    app = create_app(settings, store)

    def fail() -> None:
        raise RuntimeError("unexpected, with a detail the caller must not see")

    app.add_api_route("/v1/fails", fail)
    app.add_api_route("/fails", fail)
    with TestClient(app, raise_server_exceptions=False, headers=ADMIN) as client:
        api = client.get("/v1/fails")
        page = client.get("/fails")

    assert api.status_code == 500 and api.json() == {"error": "internal error"}
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    for response in (api, page):
        assert "detail the caller" not in response.text
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


# -- 8: numbers past what Docker takes, and form input built to break the parser --------


@pytest.mark.parametrize("memory", [2**63, 2**63 - 1, 2**70, MAX_MEMORY + 1])
def test_given_a_memory_beyond_the_bound_when_defined_then_422_and_nothing_made(
    client: TestClient, store: Store, memory: int
) -> None:
    store.create_app("shop", "shop:1")
    body = {"job": "mail", "command": ["m"], "memory": memory}

    response = client.post("/v1/apps/shop/job_definitions", json=body)

    assert response.status_code == 422 and "memory" in response.json()["error"]
    assert store.list_job_definitions("shop") == []


@pytest.mark.parametrize(
    ("memory", "command"),
    [
        ("9" * 5000, "m"),
        ("99999999999999999999g", "m"),
        ("1099511627777", "m"),
        ("", "[" * 100_000),
    ],
)
def test_given_hostile_job_definition_form_input_then_the_form_says_why_and_nothing_made(
    client: TestClient, store: Store, memory: str, command: str
) -> None:
    store.create_app("shop", "shop:1")
    log_in(client)
    form = {
        "app": "shop",
        "job": "mail",
        "command": command,
        "memory": memory,
        "csrf_token": form_token(client, "/"),
    }

    response = client.post("/job_definitions", data=form)

    assert response.status_code == 422, response.text[:200]
    assert store.list_job_definitions("shop") == []


# -- 13: one rule for the idempotency key, header or field --------------------------------


@pytest.mark.parametrize("key", ["a\x01b", "\x1f", "esc\x1b[31m", "del\x7f"])
def test_given_a_key_with_control_characters_then_header_and_field_are_both_refused(
    shop_client: TestClient, store: Store, key: str
) -> None:
    body = {"application": "shop", "job": "mail"}

    by_field = shop_client.post("/v2/job_executions", json={**body, "idempotency_key": key})
    by_header = shop_client.post(
        "/v2/job_executions", json=body, headers=[("Idempotency-Key", key)]
    )

    # barbeque's route answers a bad field with its 400 invalid_parameter
    assert (by_field.status_code, by_header.status_code) == (400, 400), by_header.text
    assert "idempotency" in by_header.json()["error"].lower()
    assert store.list_executions(ExecutionFilter(), limit=10).items == []


# -- 14: no cache keeps a page ---------------------------------------------------------------


def test_given_an_execution_then_its_pages_are_never_cached(
    client: TestClient, store: Store
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    message_id = store.enqueue("shop", "mail", "default", {"card": "4242"}).message_id
    log_in(client)

    for path in (f"/job_executions/{message_id}", "/job_executions", "/", "/apps/shop"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path


# -- 9: an app's session and token see its own world only ------------------------------------


def test_given_an_app_session_then_no_other_apps_definitions_queues_or_workers_show(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given pages of two definitions, blog's before shop's, and a queue only admins know.
    monkeypatch.setattr(pages, "NAMES_PAGE_SIZE", 2)
    store.create_app("blog", "blog:1")
    for job in ("a-secret-job", "b-secret-job"):
        store.create_job_definition("blog", job, ["m"])
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    store.create_queue("blog-private-queue")
    shop_token = tokens.create_token(store, "shop", "")[1]
    waiting = store.enqueue("shop", "mail", "default", None).message_id
    assert store.claim("worker-on-host-17", 60) is not None  # being started, under a lease

    with serving(settings, store, token=shop_token) as client:
        log_in(client, shop_token)
        definitions = client.get("/job_definitions").text
        executions = client.get("/job_executions").text
        page = client.get(f"/job_executions/{waiting}").text
        read = client.get(f"/v1/job_executions/{waiting}").json()

    assert "mail" in definitions and "secret-job" not in definitions
    assert "blog-private-queue" not in executions
    assert "worker-on-host-17" not in page and "worker-on-host-17" not in read["pending_reason"]
    assert read["pending_reason"] == "being started by a worker"
