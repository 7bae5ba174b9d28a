"""The web console's routes through FastAPI's TestClient: escaping, CSRF, form errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from pitmaster.models import Outcome, Status
from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.web.output import clean_output

from ..credentials import ADMIN
from .conftest import form_token, log_in

HOSTILE_STDOUT = (
    "<script>alert(1)</script>\n<a href='javascript:alert(2)'>x</a>\n"
    "\x1b[31mred\x1b[0m\rover\x07bell\ufffd"
)


@pytest.fixture
def console(settings: Settings, store: Store) -> Iterator[TestClient]:
    tokens.ensure_admin_tokens(settings, store)
    with TestClient(create_app(settings, store), raise_server_exceptions=True) as client:
        log_in(client)
        client.get("/")  # receives the CSRF cookie
        yield client


def token(client: TestClient) -> str:
    return form_token(client, "/")


def ended_execution(store: Store, stdout: str, message: object) -> str:
    """An execution of shop/mail that ran and succeeded with ``stdout``."""
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    execution = store.enqueue("shop", "mail", "default", message)
    claim = store.claim("w", 60)
    assert claim is not None
    now = datetime.now(UTC)
    store.mark_running(claim.attempt_id, "c1", "engine", now)
    outcome = Outcome(Status.SUCCESS, "exited 0", 0, now, stdout, "")
    assert store.record_outcome(claim.attempt_id, outcome)
    return execution.message_id


def test_hostile_output_and_message_are_escaped(console: TestClient, store: Store) -> None:
    message_id = ended_execution(store, HOSTILE_STDOUT, {"x": "</pre><script>alert(3)</script>"})
    html = console.get(f"/job_executions/{message_id}").text
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;/pre&gt;&lt;script&gt;alert(3)" in html
    assert "href='javascript" not in html and 'href="javascript' not in html
    assert "\x1b" not in html and "\x07" not in html and "\r" not in html
    live = console.get(f"/job_executions/{message_id}/live.json").json()
    assert live["stdout"] == clean_output(HOSTILE_STDOUT)


def test_clean_output_strips_ansi_and_shows_controls() -> None:
    assert (
        clean_output("\x1b[1;31mred\x1b[0m\r\nnext\rover\x00\x07") == "red\nnext\nover\u2400\u2407"
    )
    assert clean_output("bad \udcff") == "bad ?"
    assert clean_output(None) == ""


@pytest.mark.parametrize("sent", [None, "wrong" * 13])
def test_a_post_without_the_csrf_token_is_refused(
    console: TestClient, store: Store, sent: str | None
) -> None:
    data = {"name": "shop", "docker_image": "shop:1"}
    if sent is not None:
        data["csrf_token"] = sent
    response = console.post("/apps", data=data)
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert store.list_apps() == []


def test_a_cross_site_form_without_the_cookie_is_refused(console: TestClient, store: Store) -> None:
    # Given a logged-in browser, when another site posts a form with a token it got
    # hold of, the browser sends the session cookie but not the CSRF one (SameSite=Strict).
    stolen = token(console)
    del console.cookies["pitmaster_csrf"]
    response = console.post(
        "/apps", data={"name": "shop", "docker_image": "shop:1", "csrf_token": stolen}
    )
    assert response.status_code == 403
    assert store.list_apps() == []


def test_bad_app_input_rerenders_the_form_with_reasons(console: TestClient, store: Store) -> None:
    response = console.post(
        "/apps",
        data={
            "name": "no spaces",
            "docker_image": "shop:1",
            "max_concurrent_executions": "lots",
            "csrf_token": token(console),
        },
    )
    assert response.status_code == 422
    assert "max_concurrent_executions must be a whole number" in response.text
    assert 'value="no spaces"' in response.text
    assert store.list_apps() == []


def test_bad_job_definition_input_says_why(console: TestClient, store: Store) -> None:
    store.create_app("shop", "shop:1")
    response = console.post(
        "/job_definitions",
        data={
            "app": "shop",
            "job": "mail",
            "command": "",
            "retry_limit": "-1",
            "memory": "12 parsecs",
            "csrf_token": token(console),
        },
    )
    assert response.status_code == 422
    assert "memory must be bytes" in response.text
    response = console.post(
        "/job_definitions",
        data={"app": "shop", "job": "mail", "command": "", "csrf_token": token(console)},
    )
    assert response.status_code == 422
    assert "command" in response.text
    assert store.list_job_definitions("shop") == []


def test_forms_create_and_edit_with_every_policy(console: TestClient, store: Store) -> None:
    csrf = token(console)
    created = console.post(
        "/apps", data={"name": "shop", "docker_image": "shop:1", "csrf_token": csrf}
    )
    assert created.status_code == 200 and "App shop" in created.text
    form = {
        "app": "shop",
        "job": "mail",
        "command": '["sh", "-c", "echo hi"]',
        "retry_limit": "3",
        "base_delay": "2",
        "max_delay": "60",
        "jitter": "on",
        "retry_on": ["failed", "timeout"],
        "retry_exit_codes": "75, 111",
        "timeout_seconds": "30",
        "stop_grace_seconds": "1",
        "memory": "64m",
        "csrf_token": csrf,
    }
    assert console.post("/job_definitions", data=form).status_code == 200
    definition = store.get_job_definition("shop", "mail")
    assert definition.command == ("sh", "-c", "echo hi")
    assert (definition.retry_limit, definition.max_delay, definition.jitter) == (3, 60, True)
    assert definition.retry_on == ("failed", "timeout")
    assert definition.retry_exit_codes == (75, 111)
    assert definition.memory == 64 * 1024 * 1024
    edit = {"command": "echo\nbye", "max_delay": "", "memory": "", "csrf_token": csrf}
    assert console.post("/job_definitions/shop/mail/edit", data=edit).status_code == 200
    definition = store.get_job_definition("shop", "mail")
    assert definition.command == ("echo", "bye")
    assert definition.max_delay is None and definition.memory is None
    assert definition.jitter is False and definition.retry_on is None


def test_api_errors_stay_json_and_pages_get_html(console: TestClient) -> None:
    api = console.get("/v1/apps/nope", headers=ADMIN)
    assert api.status_code == 404 and api.json() == {"error": "app 'nope' does not exist"}
    page = console.get("/apps/nope")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "app &#39;nope&#39; does not exist" in page.text
    assert console.get("/job_executions?status=bogus").status_code == 422
    assert console.get("/job_executions?cursor=abc").status_code == 422


def test_every_page_renders(console: TestClient, store: Store) -> None:
    message_id = ended_execution(store, "ok", None)
    for path in (
        "/",
        "/apps/new",
        "/apps/shop",
        "/apps/shop/edit",
        "/job_definitions",
        "/job_definitions/new?app=shop",
        "/job_definitions/shop/mail",
        "/job_definitions/shop/mail/edit",
        "/job_queues",
        "/job_executions",
        "/job_executions?application=shop&status=success",
        f"/job_executions/{message_id}",
        "/monitors",
    ):
        response = console.get(path)
        assert response.status_code == 200, path
    assert "<svg" in console.get("/monitors").text


def test_the_bulk_retry_form_goes_on_after_the_id_it_is_given(
    console: TestClient, store: Store
) -> None:
    # Given two cancelled executions.
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    first, second = (store.enqueue("shop", "mail", "default", None) for _ in range(2))
    for execution in (first, second):
        store.cancel(execution.message_id)

    # When the form is sent with after_id (as the page carries after a call that was cut short).
    data = {"status": "cancelled", "after_id": str(first.id), "csrf_token": token(console)}
    page = console.post("/job_executions/retries", data=data)

    # Then only the later one is retried, and the page says so.
    assert "Retried 1 execution." in page.text
    assert store.get_execution(first.message_id).status is Status.CANCELLED
    assert store.get_execution(second.message_id).status is Status.RETRIED
    # And an after_id that is no id is refused.
    data["after_id"] = "1e3"
    refused = console.post("/job_executions/retries", data=data)
    assert refused.status_code in (400, 422)
