"""Every attempt's stored output, not only the last one's: API, console, tenants.

Given an execution of shop/mail whose first attempt failed with "upstream 503"
and whose retry succeeded, each attempt's output can be read on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from pitmaster.models import Outcome, Status
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from .conftest import log_in, serving

FIRST_STDOUT = "calling upstream\n"
FIRST_STDERR = "upstream 503 <script>alert(1)</script>\x1b[31m red\x1b[0m\n"
RETRY_STDOUT = "sent\n"


def _run(store: Store, stdout: str, stderr: str, status: Status, exit_code: int) -> None:
    claim = store.claim("w", 60)
    assert claim is not None
    now = datetime.now(UTC)
    store.mark_running(claim.attempt_id, f"c{claim.attempt_id}", "engine", now)
    reason = f"exited {exit_code}"
    assert store.record_outcome(
        claim.attempt_id, Outcome(status, reason, exit_code, now, stdout, stderr)
    )


@pytest.fixture
def retried(store: Store) -> str:
    """The message_id of shop/mail's execution: failed first ("upstream 503"), then succeeded."""
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    execution = store.enqueue("shop", "mail", "default", {"to": "a@example.com"})
    _run(store, FIRST_STDOUT, FIRST_STDERR, Status.FAILED, 1)
    store.retry(execution.message_id)
    _run(store, RETRY_STDOUT, "", Status.SUCCESS, 0)
    return execution.message_id


@pytest.fixture
def other_app_token(store: Store) -> str:
    store.create_app("billing", "billing:1")
    return tokens.create_token(store, "billing", "deploys")[1]


@pytest.fixture
def shop_token(store: Store, retried: str) -> str:
    return tokens.create_token(store, "shop", "deploys")[1]


# -- API -------------------------------------------------------------------------------


def test_given_a_retried_execution_when_attempts_asked_then_each_without_output(
    client: TestClient, retried: str
) -> None:
    body = client.get(f"/v1/job_executions/{retried}", params={"fields": "attempts"}).json()

    assert set(body) == {"attempts"}
    first, second = body["attempts"]
    assert (first["number"], first["status"], first["exit_code"]) == (0, "failed", 1)
    assert (second["number"], second["status"], second["exit_code"]) == (1, "success", 0)
    assert first["engine"] == "engine" and first["started_at"] and first["finished_at"]
    assert "stdout" not in first and "stderr" not in first


def test_given_a_retried_execution_when_attempts_output_asked_then_each_its_own(
    client: TestClient, retried: str
) -> None:
    body = client.get(
        f"/v1/job_executions/{retried}",
        params={"fields": "status,attempts[__default__,stdout,stderr]"},
    ).json()

    assert set(body) == {"status", "attempts"}
    first, second = body["attempts"]
    assert (first["stdout"], first["stderr"]) == (FIRST_STDOUT, FIRST_STDERR)
    assert (second["stdout"], second["stderr"]) == (RETRY_STDOUT, "")
    assert first["reason"] == "exited 1" and "message_id" in first


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ("attempts[number,stdout]", {"number", "stdout"}),
        ("attempts[number,no_such_field]", {"number"}),
        ("retries[number,status]", {"number", "status"}),
    ],
)
def test_given_a_list_inside_attempts_when_read_then_only_those_fields_of_each(
    client: TestClient, retried: str, fields: str, shown: set[str]
) -> None:
    body = client.get(f"/v1/job_executions/{retried}", params={"fields": fields}).json()

    (name,) = body
    assert [set(attempt) for attempt in body[name]] == [shown, shown]


def test_given_star_when_read_then_attempts_without_their_output(
    client: TestClient, retried: str
) -> None:
    body = client.get(f"/v1/job_executions/{retried}", params={"fields": "*"}).json()

    assert body["stdout"] == RETRY_STDOUT  # the execution's: its last attempt's
    assert all("stdout" not in attempt for attempt in body["attempts"])


def test_given_an_attempt_number_when_read_then_that_attempts_output(
    client: TestClient, retried: str
) -> None:
    response = client.get(f"/v1/job_executions/{retried}/attempts/0")

    assert response.status_code == 200
    body = response.json()
    assert (body["number"], body["status"], body["reason"]) == (0, "failed", "exited 1")
    assert (body["stdout"], body["stderr"]) == (FIRST_STDOUT, FIRST_STDERR)


def test_given_a_retry_message_id_when_attempt_read_then_it_finds_the_execution(
    client: TestClient, store: Store, retried: str
) -> None:
    retry_id = store.attempts_of(store.get_execution(retried).id)[1].message_id

    body = client.get(f"/v1/job_executions/{retry_id}/attempts/0").json()

    assert body["stdout"] == FIRST_STDOUT


@pytest.mark.parametrize("number", ["2", "-1", "x", "99999999999"])
def test_given_no_such_attempt_when_read_then_4xx(
    client: TestClient, retried: str, number: str
) -> None:
    response = client.get(f"/v1/job_executions/{retried}/attempts/{number}")

    assert response.status_code == (404 if number == "2" else 422)
    assert "error" in response.json()


def test_given_another_apps_token_when_attempts_read_then_404(
    settings: Settings, store: Store, retried: str, other_app_token: str, shop_token: str
) -> None:
    with serving(settings, store, token=other_app_token) as other:
        assert other.get(f"/v1/job_executions/{retried}/attempts/0").status_code == 404
        asked = {"fields": "attempts[stdout]"}
        assert other.get(f"/v1/job_executions/{retried}", params=asked).status_code == 404
    with serving(settings, store, token=shop_token) as own:
        assert own.get(f"/v1/job_executions/{retried}/attempts/0").json()["stdout"] == (
            FIRST_STDOUT
        )


# -- console ---------------------------------------------------------------------------


@pytest.fixture
def console(settings: Settings, store: Store) -> Iterator[TestClient]:
    with serving(settings, store, token=None) as client:
        log_in(client)
        yield client


def test_given_a_retried_execution_when_its_page_shown_then_rows_and_timeline_link_attempts(
    console: TestClient, retried: str
) -> None:
    html = console.get(f"/job_executions/{retried}").text

    for number in (0, 1):
        link = f'href="/job_executions/{retried}/attempts/{number}"'
        assert html.count(link) >= 2, f"attempt {number}: a row and the timeline link it"
    timeline = console.get(f"/job_executions/{retried}/live.json").json()["timeline"]
    assert [entry[3] for entry in timeline] == ["", "0", "0", "1", "1", "1"]


def test_given_the_first_attempt_when_its_page_shown_then_its_output_inert_and_not_cached(
    console: TestClient, retried: str
) -> None:
    response = console.get(f"/job_executions/{retried}/attempts/0")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert "calling upstream" in html and "upstream 503" in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\x1b" not in html
    assert RETRY_STDOUT.strip() not in html.split('id="stdout"')[1].split("</pre>")[0]
    assert f'href="/job_executions/{retried}"' in html


def test_given_no_such_attempt_when_its_page_asked_then_404_page(
    console: TestClient, retried: str
) -> None:
    response = console.get(f"/job_executions/{retried}/attempts/5")

    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]


def test_given_another_apps_session_when_attempt_page_asked_then_404(
    settings: Settings, store: Store, retried: str, other_app_token: str, shop_token: str
) -> None:
    with serving(settings, store, token=None) as other:
        log_in(other, other_app_token)
        assert other.get(f"/job_executions/{retried}/attempts/0").status_code == 404
    with serving(settings, store, token=None) as own:
        log_in(own, shop_token)
        assert "upstream 503" in own.get(f"/job_executions/{retried}/attempts/0").text
