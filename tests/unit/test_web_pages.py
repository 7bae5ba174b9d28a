"""What console pages show: commands, errors inside the layout, an execution's facts, queues."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from pitmaster.models import Outcome, Status
from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from .conftest import log_in

# Quoting a shell needs: a ; that would end the command, a redirection, a quote, an empty argument.
ARGV = ["sh", "-c", "echo nope >&2; exit 4", "it's", ""]
SHELL_QUOTED = str(escape("""sh -c 'echo nope >&2; exit 4' 'it'"'"'s' ''"""))


@pytest.fixture
def console(settings: Settings, store: Store) -> Iterator[TestClient]:
    """The console, logged in as admin."""
    tokens.ensure_admin_tokens(settings, store)
    with TestClient(create_app(settings, store), raise_server_exceptions=True) as client:
        log_in(client)
        yield client


@pytest.mark.parametrize("page", ["/job_definitions", "/apps/shop", "/job_definitions/shop/fail"])
def test_given_a_command_with_shell_syntax_when_a_page_lists_it_then_it_is_shell_quoted(
    console: TestClient, store: Store, page: str
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "fail", ARGV)
    html = console.get(page).text
    assert SHELL_QUOTED in html
    assert "\\u003e" not in html
    assert "echo nope &gt;&amp;2; exit 4 it" not in html


@pytest.fixture
def shop_session(settings: Settings, store: Store) -> Iterator[TestClient]:
    """The console, logged in with an app token of ``shop``."""
    tokens.ensure_admin_tokens(settings, store)
    store.create_app("shop", "shop:1")
    with TestClient(create_app(settings, store), raise_server_exceptions=True) as client:
        log_in(client, tokens.create_token(store, "shop", "")[1])
        yield client


def test_given_an_admin_session_when_a_url_matches_no_page_then_a_404_shows_in_its_layout(
    console: TestClient,
) -> None:
    response = console.get("/no/such/page")
    assert response.status_code == 404
    html = response.text
    assert "<h1>Not found</h1>" in html
    assert "There is no page at this address." in html
    # the layout of the logged-in admin: its navigation, and no "Log in" link
    assert '<a href="/monitors">Monitor</a>' in html
    assert "Log out" in html and 'href="/login"' not in html


def test_given_no_session_when_a_url_matches_no_page_then_the_404_offers_to_log_in(
    settings: Settings, store: Store
) -> None:
    tokens.ensure_admin_tokens(settings, store)
    with TestClient(create_app(settings, store)) as anonymous:
        response = anonymous.get("/no/such/page")
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.text and 'href="/login"' in response.text


def test_given_an_app_session_when_it_opens_an_admin_page_then_a_403_shows_in_its_layout(
    shop_session: TestClient,
) -> None:
    response = shop_session.get("/monitors")
    assert response.status_code == 403
    html = response.text
    assert "<h1>Not allowed</h1>" in html
    assert "This page is for admins; you are logged in with app shop&#39;s token." in html
    assert "app <strong>shop</strong>" in html and "Log out" in html
    assert '<a href="/job_executions">Executions</a>' in html


@pytest.mark.parametrize("path", ["/apps", "/"])
def test_given_apps_when_apps_is_opened_then_it_lists_them(
    console: TestClient, store: Store, path: str
) -> None:
    store.create_app("shop", "shop:1")
    response = console.get(path)
    assert response.status_code == 200
    assert '<a href="/apps/shop">shop</a>' in response.text


def run_and_end(store: Store, status: Status = Status.FAILED) -> None:
    """Claim the next waiting attempt, start it, and end it with ``status``."""
    claim = store.claim("w", 60)
    assert claim is not None
    now = datetime.now(UTC)
    store.mark_running(claim.attempt_id, f"c{claim.attempt_id}", "engine", now)
    assert store.record_outcome(claim.attempt_id, Outcome(status, "exited 1", 1, now, "", ""))


def execution_page(console: TestClient, message_id: str) -> tuple[str, dict[str, Any]]:
    html = console.get(f"/job_executions/{message_id}").text
    live = console.get(f"/job_executions/{message_id}/live.json").json()
    return html, live


def events(live: dict[str, Any]) -> list[str]:
    return [f"{event} | {detail}" for _, event, detail, _attempt, _iso in live["timeline"]]


@pytest.fixture
def mail(store: Store) -> str:
    """An execution of shop/mail, waiting."""
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    return store.enqueue("shop", "mail", "default", {}).message_id


def test_given_an_ended_execution_then_it_does_not_say_why_it_waits(
    console: TestClient, store: Store, mail: str
) -> None:
    html, live = execution_page(console, mail)
    assert '<dd id="pending-reason">' in html and live["waiting"] is True
    run_and_end(store)
    html, live = execution_page(console, mail)
    assert '<dt id="pending-reason-label" hidden>Waiting because</dt>' in html
    assert '<dd id="pending-reason" hidden>' in html
    assert live["waiting"] is False


def test_given_a_retried_execution_then_attempts_count_from_one_in_table_and_timeline(
    console: TestClient, store: Store, mail: str
) -> None:
    run_and_end(store)
    store.retry(mail)
    run_and_end(store)
    _, live = execution_page(console, mail)
    assert [row[0] for row in live["attempts"]] == ["1", "2"]
    assert [entry.split(" | ")[0] for entry in events(live)] == [
        "enqueued",
        "attempt 1 started",
        "attempt 1 failed",
        "attempt 2 scheduled",
        "attempt 2 started",
        "attempt 2 failed",
    ]
    assert "attempt 2 scheduled | retry 1" in events(live)


def test_given_a_running_execution_when_cancelled_then_the_timeline_shows_the_request(
    console: TestClient, store: Store, mail: str
) -> None:
    claim = store.claim("w", 60)
    assert claim is not None
    started = datetime.now(UTC)
    store.mark_running(claim.attempt_id, "c1", "engine", started)
    store.cancel(mail)
    _, live = execution_page(console, mail)
    assert events(live)[-1] == "cancel requested | attempt 1 stopping"
    outcome = Outcome(Status.CANCELLED, "cancelled", 143, datetime.now(UTC), "", "")
    assert store.record_outcome(claim.attempt_id, outcome)
    _, live = execution_page(console, mail)
    assert events(live)[-2:] == [
        "cancel requested | attempt 1 stopping",
        "attempt 1 cancelled | cancelled (exit code 143)",
    ]


def test_given_a_cancelled_running_execution_when_sigterm_sent_then_it_shows_stopping_not_cancel(
    console: TestClient, store: Store, mail: str
) -> None:
    claim = store.claim("w", 60)
    assert claim is not None
    store.mark_running(claim.attempt_id, "c1", "engine", datetime.now(UTC))
    _, live = execution_page(console, mail)
    assert live["stopping"] == "" and live["can_cancel"] is True
    store.cancel(mail)
    _, live = execution_page(console, mail)
    assert live["stopping"].endswith("SIGTERM not sent yet)")
    assert live["can_cancel"] is False
    store.mark_stop_signalled(claim.attempt_id)
    html, live = execution_page(console, mail)
    assert live["total"].endswith(" so far")
    assert re.fullmatch(
        r"stopping \(SIGTERM sent at [-0-9 :]+ UTC, kill at [-0-9 :]+ UTC\)", live["stopping"]
    )
    assert live["status"] == "running"
    assert events(live)[-1] == "SIGTERM sent | to attempt 1"
    assert str(escape(live["stopping"])) in html


def test_given_failed_executions_in_two_apps_then_retry_all_says_what_it_will_retry(
    console: TestClient, store: Store, mail: str
) -> None:
    store.create_app("mill", "mill:1")
    store.create_job_definition("mill", "grind", ["g"])
    store.enqueue("shop", "mail", "default", {})
    store.enqueue("mill", "grind", "default", {})
    for _ in range(3):
        run_and_end(store, Status.FAILED)
    html = console.get("/job_executions").text
    url = re.search(r'data-confirm-url="([^"]+)"', html)
    assert url is not None and url.group(1) == "/job_executions/retries/preview.json?status=failed"
    preview = console.get(url.group(1)).json()
    assert preview["summary"] == "retry 3 failed executions in 2 apps"
    html = console.get("/job_executions?application=mill").text
    url = re.search(r'data-confirm-url="([^"]+)"', html)
    assert url is not None
    preview = console.get(url.group(1).replace("&amp;", "&")).json()
    assert preview["summary"] == "retry 1 failed execution in 1 app"
    none = console.get("/job_executions/retries/preview.json?status=error").json()
    assert none["executions"] == 0


def test_given_a_waiting_execution_when_cancelled_then_the_timeline_shows_the_request(
    console: TestClient, store: Store, mail: str
) -> None:
    store.cancel(mail)
    _, live = execution_page(console, mail)
    assert events(live)[1:] == [
        "cancel requested | attempt 1 had not started; it never runs",
        "attempt 1 cancelled | cancelled",
    ]


def queue_row(console: TestClient, queue: str = "default") -> list[str]:
    """The cells of ``queue``'s row on the queues page, tags stripped."""
    html = console.get("/job_queues").text
    row = re.search(rf'<tr>\s*<td><a href="/job_queues/{queue}">.*?</tr>', html, re.S)
    assert row is not None, html
    return [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    ]


def test_given_only_delayed_work_then_the_queue_has_no_backlog_and_says_when_it_is_due(
    console: TestClient, store: Store, mail: str
) -> None:
    store.cancel(mail)
    later = store.enqueue("shop", "mail", "default", {}, delay_seconds=3 * 3600)
    _, ready, delayed, running, _, oldest, why, paused = queue_row(console)
    assert (ready, delayed, running, oldest, paused) == ("0", "1", "0", "—", "Pause")
    due = store.get_execution(later.message_id).run_after
    assert why == f"next up: delayed until {due:%Y-%m-%d %H:%M:%S} UTC"
    assert "+00:00" not in why


def test_given_ready_and_delayed_work_then_they_are_counted_apart(
    console: TestClient, store: Store, mail: str
) -> None:
    store.enqueue("shop", "mail", "default", {}, delay_seconds=3 * 3600)
    store.enqueue("shop", "mail", "default", {}, delay_seconds=3 * 3600)
    _, ready, delayed, _, _, oldest, _, _ = queue_row(console)
    assert (ready, delayed) == ("1", "2")
    assert oldest.startswith("waiting ") and oldest.endswith((" ms", " s"))
    summary = store.stats.queue_summaries()[0]
    assert summary.oldest_ready_at == store.get_execution(mail).run_after


def test_given_a_delayed_execution_then_its_page_writes_the_due_time_like_other_times(
    console: TestClient, store: Store, mail: str
) -> None:
    later = store.enqueue("shop", "mail", "default", {}, delay_seconds=3600)
    html, live = execution_page(console, later.message_id)
    assert live["pending_reason"] == f"delayed until {later.run_after:%Y-%m-%d %H:%M:%S} UTC"
    assert later.run_after.isoformat() not in html


def test_given_executions_in_several_states_then_the_list_counts_them_and_shows_attempts(
    console: TestClient, store: Store, mail: str
) -> None:
    run_and_end(store, Status.FAILED)
    store.retry(mail)
    run_and_end(store, Status.SUCCESS)
    waiting = store.enqueue("shop", "mail", "default", {}, delay_seconds=600).message_id
    html = console.get("/job_executions").text
    counts = re.sub(r"<[^>]+>|\s+", " ", html.split('id="status-counts">')[1].split("</p>")[0])
    assert counts.split() == ["pending", "1", "success", "1"]
    assert '<span class="retries" title="1 retry">2</span>' in html
    assert "delayed until " in html  # the waiting one says why
    assert "not due yet" in html
    # A count link keeps the filter and picks the status
    assert 'href="/job_executions?status=pending"' in html
    # Searching a whole message_id opens it; its start filters the list
    found = console.get(f"/job_executions?message_id={waiting}", follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/job_executions/{waiting}"
    html = console.get(f"/job_executions?message_id={waiting[:8]}").text
    assert waiting in html and mail not in html
    assert mail in console.get("/job_executions?range=1h").text
    assert console.get("/job_executions?range=forever").status_code == 422


def test_given_an_ended_execution_then_its_raw_output_downloads_as_written(
    console: TestClient, store: Store, mail: str
) -> None:
    claim = store.claim("w", 60)
    assert claim is not None
    now = datetime.now(UTC)
    store.mark_running(claim.attempt_id, "c1", "engine", now)
    outcome = Outcome(Status.FAILED, "exited 1", 1, now, "line 1\nline 2\n", "\x1b[31moops\n")
    assert store.record_outcome(claim.attempt_id, outcome)
    raw = console.get(f"/job_executions/{mail}/output/stderr.txt")
    assert raw.status_code == 200 and raw.text == "\x1b[31moops\n"
    assert raw.headers["content-disposition"] == 'attachment; filename="stderr.txt"'
    assert console.get(f"/job_executions/{mail}/attempts/0/output/stdout.txt").text == (
        "line 1\nline 2\n"
    )
    assert console.get(f"/job_executions/{mail}/output/other.txt").status_code == 404


def test_given_failures_and_no_worker_then_the_home_page_says_it_needs_a_look(
    console: TestClient, store: Store, mail: str
) -> None:
    html = console.get("/").text
    assert "Needs a look" in html  # one ready execution, no worker alive
    assert "1 executions are ready but no worker is alive" in html
    run_and_end(store, Status.FAILED)
    html = console.get("/").text
    assert "1 execution failed in the last hour" in html
    assert re.search(r"<strong>1</strong> failed or error in the last hour", html)


def test_given_nothing_waiting_or_failing_then_the_home_page_says_everything_looks_ok(
    console: TestClient, store: Store, mail: str
) -> None:
    run_and_end(store, Status.SUCCESS)
    html = console.get("/").text
    assert "Everything looks OK" in html and 'class="problems"' not in html


def test_given_ended_executions_then_the_monitor_shows_failure_rate_and_percentiles(
    console: TestClient, store: Store, mail: str
) -> None:
    run_and_end(store, Status.FAILED)
    store.enqueue("shop", "mail", "default", {})
    run_and_end(store, Status.SUCCESS)
    html = console.get("/monitors").text
    table = html.split('id="job-health"')[1].split("</table>")[0]
    cells = re.findall(r'<td class="num">([^<]*)</td>', table)
    assert cells[:3] == ["2", "1", "50.0 %"]
    assert cells[3:] == ["&lt; 1 ms"] * 3
    waits = html.split('id="queue-wait"')[1].split("</table>")[0]
    assert "<td>default</td>" in waits
    assert 'id="auto-refresh"' in html


def test_given_the_queue_forms_then_a_queue_is_made_changed_shown_and_deleted(
    console: TestClient, store: Store
) -> None:
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', console.get("/job_queues/new").text)
    assert csrf is not None
    token = csrf.group(1)
    made = console.post(
        "/job_queues",
        data={"csrf_token": token, "name": "mailers", "max_concurrent_executions": "3"},
        follow_redirects=False,
    )
    assert made.status_code == 303 and made.headers["location"] == "/job_queues/mailers"
    assert store.get_queue("mailers").max_concurrent_executions == 3
    changed = console.post(
        "/job_queues/mailers/edit",
        data={"csrf_token": token, "description": "mail", "max_concurrent_executions": ""},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert store.get_queue("mailers").max_concurrent_executions is None
    page = console.get("/job_queues/mailers").text
    assert "Queue mailers" in page and "No worker serves this queue." in page
    assert 'data-confirm="Delete queue mailers?' in page
    assert 'href="/job_queues/mailers/pause"' in page and "<dt>Paused</dt><dd>no</dd>" in page
    store.pause_queue("mailers", "disk full")
    paused = console.get("/job_queues/mailers").text
    assert 'href="/job_queues/mailers/resume"' in paused and "disk full" in paused
    store.resume_queue("mailers")
    # The default queue cannot be deleted, and its page offers no Delete
    assert "/job_queues/default/delete" not in console.get("/job_queues/default").text
    refused = console.post("/job_queues/default/delete", data={"csrf_token": token})
    assert refused.status_code == 409 and "always exists" in refused.text
    gone = console.post("/job_queues/mailers/delete", data={"csrf_token": token})
    assert gone.status_code == 200 and "/job_queues" in str(gone.url)
    assert console.get("/job_queues/mailers").status_code == 404


def test_given_a_deleted_apps_execution_then_its_page_is_read_only_history(
    console: TestClient, store: Store, mail: str
) -> None:
    run_and_end(store, Status.FAILED)
    store.delete_app("shop")
    html, live = execution_page(console, mail)
    assert 'id="read-only"' in html and "was deleted" in html
    assert 'id="retry-form"' not in html and 'id="cancel-form"' not in html
    assert 'href="/apps/shop"' not in html  # that page is gone
    assert '<a href="/job_executions">Executions</a>' in html  # the breadcrumb
    assert live["status"] == "failed"
