"""Logging in to the console in Chromium: the form, the session cookie, an app's view, logging out."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from ..credentials import ADMIN_TOKEN
from .conftest import ConsolePage, define_job, enqueue

# One test process runs every browser test: they share one `pitmaster up` and one Chromium.
pytestmark = pytest.mark.xdist_group("browser")


def test_log_in_through_the_form_come_back_to_the_page_asked_for_and_log_out(
    anonymous_tab: ConsolePage,
) -> None:
    tab, page = anonymous_tab, anonymous_tab.page
    # Given a browser that is not logged in, when it opens a page, then it is sent to the login form
    tab.goto("/job_executions?status=failed")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fjob_executions%3Fstatus%3Dfailed$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    tab.screenshot("login")

    # When a wrong token is given, then the form says so
    page.get_by_label("API token").fill("pm_000000000000_this-is-not-the-token-at-all-no-no")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")

    # When the admin token is given, then the page asked for opens, saying who is logged in
    page.get_by_label("API token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/job_executions\?status=failed$"))
    expect(page.locator("#who")).to_contain_text("admin")
    expect(page.locator("#who")).to_contain_text(ADMIN_TOKEN.split("_")[1])
    tab.screenshot("logged-in")
    [session] = [c for c in page.context.cookies() if c["name"] == "pitmaster_session"]
    assert session["httpOnly"] is True and session["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("pitmaster_session") == -1

    # When Log out is clicked, then the console asks for a token again
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    tab.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))


def test_an_app_tokens_session_sees_only_its_app(
    anonymous_tab: ConsolePage, api: httpx.Client
) -> None:
    define_job(api, "garden", "water", "echo watered")
    define_job(api, "cellar", "count", "echo counted")
    own = enqueue(api, "garden", "water")
    other = enqueue(api, "cellar", "count")
    made = api.post("/v1/tokens", json={"app": "garden", "description": "garden team"})
    assert made.status_code == 201, made.text

    anonymous_tab.log_in(made.json()["token"])
    page = anonymous_tab.page
    anonymous_tab.goto("/job_executions")

    expect(page.locator("#who")).to_contain_text("app garden")
    expect(page.get_by_role("link", name=own)).to_be_visible()
    expect(page.get_by_role("link", name=other)).to_have_count(0)
    expect(page.get_by_role("link", name="Queues")).to_have_count(0)
    anonymous_tab.screenshot("app-session")
    anonymous_tab.goto(f"/job_executions/{other}")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
