"""The console in Chromium against a real ``pitmaster up`` running jobs in Docker.

Every wait is on a condition, never a sleep: Playwright's ``expect`` for what a page
shows by itself, ``tests/waiting.py``'s ``wait_for`` for what only a reload shows.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Route, expect

from ..waiting import wait_for
from .conftest import ConsolePage, define_job, enqueue

# One test process runs every browser test: they share one `pitmaster up` and one Chromium.
pytestmark = pytest.mark.xdist_group("browser")

LONG = 30_000


def test_create_app_and_job_through_the_forms_then_watch_it_run_live(
    tab: ConsolePage, api: httpx.Client
) -> None:
    page = tab.page
    # Given the apps page, when an app is created through its form
    tab.goto("/")
    page.get_by_role("link", name="New app").click()
    page.get_by_label("Name").fill("shop")
    page.get_by_label("Docker image").fill("pitmaster-demo:latest")
    page.get_by_label("Description").fill("The shop's background jobs")
    tab.screenshot("app-form")
    page.get_by_role("button", name="Create app").click()
    # Then its page shows it
    expect(page.get_by_role("heading", name="App shop")).to_be_visible()

    # When a job definition is created through its form, with policies
    page.get_by_role("link", name="New job definition").click()
    page.get_by_label("Job name").fill("bake")
    page.get_by_label("Command").fill("sh\n-c\necho warming up; sleep 3; echo baked")
    page.get_by_label("Retry limit").fill("1")
    page.get_by_label("Timeout (s)").fill("120")
    page.get_by_label("Memory").fill("64m")
    tab.screenshot("job-definition-form")
    page.get_by_role("button", name="Create job definition").click()
    expect(page.get_by_role("heading", name="Job shop/bake")).to_be_visible()
    definition = api.get("/v1/apps/shop/job_definitions/bake").json()
    assert definition["command"] == ["sh", "-c", "echo warming up; sleep 3; echo baked"]
    assert definition["memory"] == 64 * 1024 * 1024
    assert definition["timeout_seconds"] == 120

    # When it is enqueued through the API (a little delayed, so it is seen pending)
    message_id = enqueue(api, "shop", "bake", {"order": 42}, delay=2)
    tab.goto(f"/job_executions/{message_id}")
    page.evaluate("window.sameDocument = true")
    status = page.locator("#status")
    # Then the page goes from pending to running to success by itself
    expect(status).to_have_text("pending")
    tab.screenshot("execution-pending")
    expect(status).to_have_text("running", timeout=LONG)
    tab.screenshot("execution-running")
    expect(status).to_have_text("success", timeout=LONG)
    expect(page.locator("#stdout")).to_contain_text("baked")
    expect(page.locator("#exit-code")).to_have_text("0")
    expect(page.locator("#timeline")).to_contain_text("attempt 1 success")
    assert page.evaluate("window.sameDocument") is True, "the page reloaded"
    expect(page.locator("#message")).to_contain_text('"order": 42')
    tab.screenshot("execution-success")

    tab.goto("/")
    expect(page.get_by_role("link", name="shop")).to_be_visible()
    tab.screenshot("apps")
    tab.goto("/apps/shop")
    tab.screenshot("app")
    tab.goto("/job_definitions/shop/bake")
    expect(page.locator("svg.chart").first).to_be_visible()
    tab.screenshot("job-definition")


def test_retry_a_failed_execution_with_its_button(tab: ConsolePage, api: httpx.Client) -> None:
    define_job(api, "shop", "burn", "echo oops >&2; exit 3")
    message_id = enqueue(api, "shop", "burn")
    page = tab.page
    tab.goto(f"/job_executions/{message_id}")
    expect(page.locator("#status")).to_have_text("failed", timeout=LONG)
    expect(page.locator("#stderr")).to_contain_text("oops")
    expect(page.locator("#exit-code")).to_have_text("3")
    # An ended execution does not say why it waits; its empty stdout says it is empty
    expect(page.locator("#pending-reason")).to_be_hidden()
    expect(page.get_by_text("Waiting because")).to_be_hidden()
    empty = page.locator("#stdout").evaluate("node => getComputedStyle(node, '::before').content")
    assert empty == '"(empty)"'
    tab.screenshot("execution-failed")

    # When Retry is clicked, then a second attempt runs (and fails again)
    page.get_by_role("button", name="Retry").click()
    expect(page.locator("#attempts tbody tr")).to_have_count(2)
    # Attempts are numbered alike in the table and the timeline
    expect(page.locator("#attempts tbody tr td:first-child")).to_have_text(["1", "2"])
    expect(page.locator("#timeline")).to_contain_text("attempt 2 failed", timeout=LONG)
    expect(page.locator("#status")).to_have_text("failed")
    attempts = api.get(f"/v1/job_executions/{message_id}?fields=attempts").json()["attempts"]
    assert [a["status"] for a in attempts] == ["failed", "failed"]


def test_cancel_a_running_execution(tab: ConsolePage, api: httpx.Client) -> None:
    define_job(api, "shop", "linger", "echo started; sleep 120", stop_grace_seconds=1)
    message_id = enqueue(api, "shop", "linger")
    page = tab.page
    tab.goto(f"/job_executions/{message_id}")
    expect(page.locator("#status")).to_have_text("running", timeout=LONG)
    expect(page.get_by_role("button", name="Retry")).to_be_hidden()
    # The running attempt's output shows as it comes (the server reads the engine under `up`).
    expect(page.locator("#stdout")).to_have_text("started", timeout=LONG)

    page.get_by_role("button", name="Cancel").click()
    # Then it asks first, saying what it will do; going back changes nothing
    dialog = page.locator("dialog#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Cancel execution {message_id} (shop/linger)?")
    tab.screenshot("confirm-cancel")
    dialog.get_by_role("button", name="Go back").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#status")).to_have_text("running")
    # When confirmed, then it stops and the page says so until it has
    page.get_by_role("button", name="Cancel").click()
    dialog.get_by_role("button", name="Cancel execution").click()
    expect(page.locator("#status")).to_have_text("cancelled", timeout=LONG)
    expect(page.locator("#timeline")).to_contain_text("SIGTERM sent to attempt 1")
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text("cancel requested attempt 1 stopping")
    tab.screenshot("execution-cancelled")
    assert api.get(f"/v1/job_executions/{message_id}").json()["status"] == "cancelled"


HOSTILE = (
    r"printf '<script>alert(1)</script>\n<img src=x onerror=alert(2)>\n"
    r"<a href=\"javascript:alert(3)\">click</a>\n\033[31mred\033[0m plain\r\nNUL:\000:\n'; "
    r"printf 'bad utf8: \377\376\n<script>alert(4)</script>\n' >&2"
)


def test_hostile_output_and_message_run_no_script(tab: ConsolePage, api: httpx.Client) -> None:
    define_job(api, "shop", "hostile", HOSTILE)
    message = {"html": "<script>alert(5)</script>", "link": "javascript:alert(6)"}
    message_id = enqueue(api, "shop", "hostile", message)
    page = tab.page
    tab.goto(f"/job_executions/{message_id}")
    # Arrives through the live update (JSON written with textContent) ...
    expect(page.locator("#status")).to_have_text("success", timeout=LONG)
    stdout = page.locator("#stdout")
    expect(stdout).to_contain_text("<script>alert(1)</script>")
    expect(stdout).to_contain_text("red plain")
    tab.screenshot("execution-hostile")
    # ... and through the server-rendered page.
    page.reload()
    expect(stdout).to_contain_text("<img src=x onerror=alert(2)>")
    expect(page.locator("#stderr")).to_contain_text("bad utf8: \ufffd")
    expect(page.locator("#message")).to_contain_text("<script>alert(5)</script>")
    text = stdout.text_content() or ""
    assert "\x1b" not in text and "\x00" not in text and "\r" not in text
    assert "\u2400" in text  # the NUL, shown as a symbol
    assert page.locator("#execution a[href^='javascript']").count() == 0
    scripts = page.evaluate("Array.from(document.scripts, script => script.src)")
    assert scripts == [f"{tab.base_url}/static/console.js", f"{tab.base_url}/static/logs.js"]
    # The log viewer shows the same cleaned text, line by line, as text
    viewer = page.locator("#log-body")
    expect(viewer).to_contain_text("<script>alert(1)</script>")
    assert page.locator("#log-body script, #log-body img").count() == 0
    assert tab.dialogs == []


def test_lists_queues_and_monitor(tab: ConsolePage, api: httpx.Client) -> None:
    define_job(api, "shop", "tick", "echo tick")
    for _ in range(3):
        enqueue(api, "shop", "tick")
    page = tab.page
    tab.goto("/job_executions?application=shop&job=tick")
    expect(page.locator("table.list tbody tr")).to_have_count(3)
    tab.screenshot("executions")
    # Given failed executions (made to fail here, so the list has some)
    define_job(api, "mill", "jam", "exit 5")
    jammed = enqueue(api, "mill", "jam")
    wait_for(
        lambda: api.get(f"/v1/job_executions/{jammed}").json()["status"] == "failed",
        timeout=60,
        interval=0.2,
        what="mill/jam to fail",
    )
    tab.goto("/job_executions?status=failed")
    # When Retry all is pressed, then it first says how many it retries in how many apps
    page.get_by_role("button", name=re.compile("Retry all failed")).click()
    dialog = page.locator("dialog#confirm-dialog")
    expect(dialog).to_contain_text(re.compile(r"^Retry \d+ failed executions? in \d+ apps?\?"))
    tab.screenshot("confirm-retry-all")
    dialog.get_by_role("button", name=re.compile(r"^retry \d+ failed")).click()
    expect(page.get_by_role("status")).to_contain_text("Retried")
    tab.goto("/job_queues")
    expect(page.get_by_role("link", name="default")).to_be_visible()
    tab.screenshot("queues")
    # The monitor page is drawn once per load: reload it until the worker's heartbeat is in.
    alive = page.locator("span.status", has_text=re.compile(r"^alive$"))

    def worker_shown_alive() -> bool:
        tab.goto("/monitors")
        return alive.count() > 0

    wait_for(worker_shown_alive, timeout=60, interval=0.5, what="/monitors to show a worker alive")
    expect(page.locator("svg.chart")).to_have_count(2)
    expect(alive.first).to_be_visible()
    tab.screenshot("monitor")
    assert tab.dialogs == []


def test_no_page_breaks_the_content_security_policy(tab: ConsolePage, api: httpx.Client) -> None:
    define_job(api, "shop", "csp", "echo csp")
    waiting = enqueue(api, "shop", "csp", {"order": 1}, delay=600)
    page = tab.page
    # Given every page of the console, and the live refresh of a waiting execution
    for path in (
        "/",
        "/apps/new",
        "/apps/shop",
        "/job_definitions",
        "/job_definitions/shop/csp",
        "/job_definitions/shop/csp/edit",
        "/job_queues",
        "/job_executions",
        "/monitors",
    ):
        tab.goto(path)
        page.wait_for_load_state("load")
    with page.expect_response(re.compile(r"/live\.json$")) as live:
        tab.goto(f"/job_executions/{waiting}")
    assert live.value.ok
    # And the API's docs, Swagger UI and ReDoc, drawn offline: any other host is refused
    elsewhere: list[str] = []

    def refuse(route: Route) -> None:
        elsewhere.append(route.request.url)
        route.abort()

    page.route(re.compile(r"^(?!" + re.escape(tab.base_url) + r")"), refuse)
    tab.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("pitmaster", timeout=LONG)
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    tab.screenshot("api-docs-swagger-ui")
    tab.goto("/redoc")
    expect(page.locator("redoc h1").first).to_contain_text("pitmaster", timeout=LONG)
    tab.screenshot("api-docs-redoc")
    page.unroute_all()
    assert elsewhere == []

    # Then none of them did anything its Content-Security-Policy forbids (but ReDoc's
    # "API docs by Redocly" logo, which it always asks its own host for: refused, as it must be)
    logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    tab.csp_violations = [v for v in tab.csp_violations if logo not in v]
    assert tab.csp_violations == []

    # And what a page must not do is blocked and seen: an injected inline script
    tab.goto("/")
    with page.expect_console_message(lambda message: "CSP violation" in message.text):
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.injected = true'; document.body.append(s); }"
        )
    assert page.evaluate("window.injected") is None
    assert any("script-src" in violation for violation in tab.csp_violations), tab.csp_violations


def test_monitor_legend_shows_every_job_inside_its_chart(
    tab: ConsolePage, api: httpx.Client
) -> None:
    # Given nine jobs with long names, each enqueued (hours ahead, so nothing runs)
    jobs = [f"nightly-report-for-region-{region}" for region in range(9)]
    for job in jobs:
        define_job(api, "legend", job, "true")
        enqueue(api, "legend", job, delay=3600)
    page = tab.page
    for width in (1400, 700):
        # When the monitor is shown on a wide and on a narrow screen
        page.set_viewport_size({"width": width, "height": 900})
        tab.goto("/monitors")
        figure = page.locator("figure.chart").first
        box = figure.bounding_box()
        assert box is not None
        entries = figure.locator(".legend li")
        # Then there is an entry per job (other tests' jobs too: past the palette, the
        # quietest share one), each in a colour of its own
        assert entries.count() >= len(jobs)
        colours = figure.locator(".legend rect").evaluate_all(
            "rects => rects.map(rect => rect.getAttribute('fill'))"
        )
        assert len(colours) == len(set(colours)) == entries.count()
        # And every entry is visible, whole, inside its chart's frame
        for entry in entries.all():
            expect(entry).to_be_visible()
            entry_box = entry.bounding_box()
            assert entry_box is not None
            assert entry_box["x"] >= box["x"] and entry_box["y"] >= box["y"]
            assert entry_box["x"] + entry_box["width"] <= box["x"] + box["width"] + 0.5
            assert entry_box["y"] + entry_box["height"] <= box["y"] + box["height"] + 0.5
        tab.screenshot(f"monitor-legend-{width}")


def test_given_a_retried_execution_when_its_first_attempt_clicked_then_its_output_shows(
    tab: ConsolePage, api: httpx.Client
) -> None:
    page = tab.page
    # Given a job that fails its first run and succeeds when retried
    script = (
        'if [ "$BARBEQUE_RETRY_COUNT" = 0 ]; then echo calling upstream; '
        "echo 'upstream 503' >&2; exit 1; fi; echo sent"
    )
    define_job(api, "flaky", "call", script, retry_limit=1, base_delay=0)
    message_id = enqueue(api, "flaky", "call")
    tab.goto(f"/job_executions/{message_id}")
    expect(page.locator("#status")).to_have_text("success", timeout=LONG)
    expect(page.locator("#stdout")).to_contain_text("sent")
    expect(page.locator("#stderr")).not_to_contain_text("upstream 503")

    # When the first row of the attempts table is followed
    page.locator("#attempts tbody tr").first.get_by_role("link", name="1").click()

    # Then that attempt's own output shows, with a way back
    page.wait_for_url(re.compile(f"/job_executions/{message_id}/attempts/0$"))
    expect(page.get_by_role("heading", name="Attempt 1")).to_be_visible()
    expect(page.locator("#stdout")).to_have_text("calling upstream\n")
    expect(page.locator("#stderr")).to_have_text("upstream 503\n")
    expect(page.locator("#status")).to_have_text("failed")
    tab.screenshot("attempt-output")
    assert tab.csp_violations == []
    page.locator("#execution-link").click()
    # and the timeline links the retry's ending to the retry's page
    page.get_by_role("link", name="attempt 2 success").click()
    page.wait_for_url(re.compile(f"/job_executions/{message_id}/attempts/1$"))
    expect(page.locator("#stdout")).to_have_text("sent\n")


def test_given_100000_lines_of_output_then_the_log_viewer_opens_fast_and_finds_lines(
    tab: ConsolePage, api: httpx.Client
) -> None:
    # Given a job that wrote 100,000 lines to stdout and two to stderr
    define_job(api, "logs", "long", "seq 1 100000; echo 'first problem' >&2; echo 'bye' >&2")
    message_id = enqueue(api, "logs", "long")
    url = f"/v1/job_executions/{message_id}?fields=status,stdout"
    wait_for(
        lambda: (api.get(url).json().get("stdout") or "").endswith("100000\n"),
        timeout=60,
        interval=0.5,
        what="logs/long to succeed with its output stored",
    )
    page = tab.page
    # When its page opens
    started = time.perf_counter()
    tab.goto(f"/job_executions/{message_id}")
    viewer = page.locator("#log-viewer[data-ready='true']")
    expect(viewer).to_be_visible()
    opened = time.perf_counter() - started
    render_ms = int(viewer.get_attribute("data-render-ms") or "0")
    # Then it shows numbered lines, drawing only a few hundred of them
    expect(page.locator("#log-tab-stdout")).to_have_text("stdout (100000 lines)")
    expect(page.locator("#log-body .logline").first).to_have_text("1")
    assert page.locator("#log-body .logline").count() <= 2000
    print(f"log viewer, 100,000 lines: drawn in {render_ms} ms, page ready in {opened:.2f} s")
    assert render_ms < 1000, render_ms
    tab.screenshot("log-viewer-100000-lines")

    # When it jumps to the end, then the last line shows with its number
    page.get_by_role("button", name="Jump to end").click()
    last = page.locator(".logline[data-n='100000']")
    expect(last).to_be_in_viewport()
    expect(last).to_have_text("100000")

    # When a line is searched for, then it is found and scrolled to
    page.get_by_label("Search the output").fill("77777")
    expect(page.locator("#log-hits")).to_have_text("1 of 1 lines")
    expect(page.locator(".logline.current")).to_have_text("77777")
    expect(page.locator(".logline.current")).to_be_in_viewport()
    tab.screenshot("log-viewer-search")

    # When stderr's tab is chosen, wrapping turned on, then its lines show
    page.locator("#log-tab-stderr").click()
    expect(page.locator("#log-body")).to_contain_text("first problem")
    page.get_by_label("Wrap lines").check()
    expect(page.locator("#log-viewer.wrap")).to_have_count(1)

    # And the raw download is the stream as written
    with page.expect_download() as download:
        page.locator("#log-download").click()
    path = download.value.path()
    assert path.read_text() == "first problem\nbye\n"
    assert tab.csp_violations == []


def test_given_a_running_job_when_following_then_new_lines_scroll_in_only_at_the_bottom(
    tab: ConsolePage, api: httpx.Client
) -> None:
    # Given a job printing a line every 0.2 s for a while
    define_job(
        api,
        "logs",
        "drip",
        "i=0; while [ $i -lt 400 ]; do echo line $i; i=$((i+1)); sleep 0.2; done",
    )
    message_id = enqueue(api, "logs", "drip")
    page = tab.page
    tab.goto(f"/job_executions/{message_id}")
    expect(page.locator("#status")).to_have_text("running", timeout=LONG)
    body = page.locator("#log-body")
    # When following at the bottom, then the newest line comes into view by itself
    expect(page.get_by_label("Follow")).to_be_checked()
    expect(body).to_contain_text("line 60", timeout=LONG)
    page.get_by_role("button", name="Jump to end").click()
    expect(body).to_contain_text("line 90", timeout=LONG)
    newest = page.locator("#log-body .logline").last
    expect(newest).to_be_in_viewport()  # Jump to end brings the viewer into view too
    at_end = "node => node.scrollTop + node.clientHeight >= node.scrollHeight - 4"
    assert body.evaluate(at_end) is True
    tab.screenshot("log-viewer-follow")
    # When scrolled up, then it stays where the reader is as lines arrive
    body.evaluate("node => { node.scrollTop = 0; }")
    expect(body).to_contain_text("line 110", timeout=LONG)
    assert body.evaluate("node => node.scrollTop") == 0
    api.post(f"/v1/job_executions/{message_id}/cancel")


def test_given_the_executions_list_when_work_is_enqueued_then_it_appears_with_its_details(
    tab: ConsolePage, api: httpx.Client
) -> None:
    # Given a job that fails once, then succeeds when retried
    script = 'if [ "$BARBEQUE_RETRY_COUNT" = 0 ]; then exit 1; fi; echo done'
    define_job(api, "listing", "twice", script, retry_limit=1, base_delay=0)
    first = enqueue(api, "listing", "twice")
    wait_for(
        lambda: api.get(f"/v1/job_executions/{first}").json()["status"] == "success",
        timeout=60,
        interval=0.2,
        what="listing/twice to succeed on its retry",
    )
    page = tab.page
    tab.goto("/job_executions?application=listing")
    row = page.locator("#executions-list tbody tr", has_text=first)
    # Then its row says it took two attempts, how long it waited and ran, in local time
    expect(row.locator(".retries")).to_have_text("2")
    expect(row.locator("time").first).to_have_text(re.compile(r"ago$|^just now$"))
    title = row.locator("time").first.get_attribute("title") or ""
    assert "your browser's time zone" in title
    expect(page.locator("#status-counts")).to_contain_text("success")
    # And the job filter is a choice of the app's jobs
    expect(page.get_by_label("Job")).to_contain_text("twice")

    # When another execution is enqueued, then it appears without a reload
    page.evaluate("window.sameDocument = true")
    second = enqueue(api, "listing", "twice", delay=600)
    expect(page.locator("#executions-list tbody tr", has_text=second)).to_be_visible(timeout=LONG)
    expect(page.locator("#executions-list tbody tr", has_text=second)).to_contain_text(
        "delayed until"
    )
    assert page.evaluate("window.sameDocument") is True
    tab.screenshot("executions-list")
    assert tab.csp_violations == []
    api.post(f"/v1/job_executions/{second}/cancel")


def test_given_a_phone_width_screen_then_the_header_fits_it(tab: ConsolePage) -> None:
    page = tab.page
    page.set_viewport_size({"width": 375, "height": 740})
    for path in ("/", "/job_executions"):
        tab.goto(path)
        header = page.locator("header.top").bounding_box()
        assert header is not None
        assert header["width"] <= 375
        # Nothing in the header reaches past the screen's edge, and the page does not scroll sideways
        right_edges = page.locator("header.top a, header.top button, header.top span").evaluate_all(
            "nodes => nodes.map(node => node.getBoundingClientRect().right)"
        )
        assert max(right_edges) <= 375, right_edges
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    tab.screenshot("phone-header")


def test_given_the_home_page_then_it_says_whether_everything_is_ok(
    tab: ConsolePage, api: httpx.Client
) -> None:
    page = tab.page
    tab.goto("/")
    health = page.locator("#health")
    # Then it answers at a glance, with the totals behind the answer
    expect(health.get_by_role("heading")).to_have_text(
        re.compile(r"^(Everything looks OK|Needs a look)$")
    )
    expect(health).to_contain_text("running")
    expect(health).to_contain_text(re.compile(r"\d+ of \d+ workers alive"))
    tab.screenshot("home-health")


def test_given_the_queues_page_when_a_queue_is_made_changed_and_deleted_then_each_shows(
    tab: ConsolePage, api: httpx.Client
) -> None:
    page = tab.page
    # Given the queues page, when a queue is created through its form
    tab.goto("/job_queues")
    page.get_by_role("link", name="New queue").click()
    page.get_by_label("Name").fill("nightly")
    page.get_by_label("Limit").fill("2")
    page.get_by_role("button", name="Create queue").click()
    # Then its page shows its limit, wait, workers and executions
    expect(page.get_by_role("heading", name="Queue nightly")).to_be_visible()
    expect(page.locator("#queue-facts")).to_contain_text("2 running at once")
    expect(page.locator("#queue-workers")).to_contain_text("alive")  # `up` serves every queue
    tab.screenshot("queue")
    # When its limit is changed
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Limit").fill("5")
    page.get_by_role("button", name="Save queue").click()
    expect(page.locator("#queue-facts")).to_contain_text("5 running at once")
    assert api.get("/v1/job_queues/nightly").json()["max_concurrent_executions"] == 5
    # When it is deleted, then it asks first, and the queue is gone
    page.get_by_role("button", name="Delete").click()
    dialog = page.locator("dialog#confirm-dialog")
    expect(dialog).to_contain_text("Delete queue nightly?")
    dialog.get_by_role("button", name="Delete queue nightly").click()
    expect(page.get_by_role("heading", name="Job queues")).to_be_visible()
    assert api.get("/v1/job_queues/nightly").status_code == 404
    # And the monitor tables each job's failures and durations, and each queue's wait
    tab.goto("/monitors")
    expect(page.locator("#job-health tbody tr").first).to_be_visible()
    expect(page.locator("#queue-wait")).to_contain_text("default")
    tab.screenshot("monitor-tables")
    assert tab.csp_violations == []
