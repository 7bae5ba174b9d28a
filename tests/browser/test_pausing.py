"""Pausing a queue and an app from the console, in Chromium: each change is confirmed first."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from .conftest import ConsolePage

pytestmark = pytest.mark.xdist_group("browser")


def test_given_the_queues_page_when_a_queue_is_paused_and_resumed_then_each_is_confirmed_first(
    tab: ConsolePage, api: httpx.Client
) -> None:
    assert api.post("/v1/job_queues", json={"name": "held-in-browser"}).status_code == 201
    page = tab.page
    tab.goto("/job_queues")
    row = page.locator("tr", has=page.get_by_role("link", name="held-in-browser", exact=True))

    # When Pause is clicked, a page asks first, and nothing is paused yet.
    row.get_by_role("link", name="Pause").click()
    expect(page.get_by_role("heading", name="Pause queue held-in-browser?")).to_be_visible()
    assert api.get("/v1/job_queues/held-in-browser").json()["paused_at"] is None

    # Then confirming with a reason pauses it, and the queues page says so.
    page.get_by_label(re.compile("Reason")).fill("browser check")
    page.get_by_role("button", name="Pause").click()
    expect(row).to_contain_text("browser check")
    assert api.get("/v1/job_queues/held-in-browser").json()["pause_reason"] == "browser check"

    # And resuming asks too.
    row.get_by_role("link", name="Resume").click()
    page.get_by_role("button", name="Resume").click()
    expect(row.get_by_role("link", name="Pause")).to_be_visible()
    assert api.get("/v1/job_queues/held-in-browser").json()["paused_at"] is None
    assert tab.dialogs == []
    assert tab.csp_violations == []


def test_given_an_app_page_when_pause_is_cancelled_then_nothing_changes(
    tab: ConsolePage, api: httpx.Client
) -> None:
    body = {"name": "paused-in-browser", "docker_image": "pitmaster-demo:latest"}
    assert api.post("/v1/apps", json=body).status_code == 201
    page = tab.page
    tab.goto("/apps/paused-in-browser")

    page.get_by_role("link", name="Pause", exact=True).click()
    page.get_by_role("link", name="Cancel").click()

    expect(page.get_by_role("heading", name="App paused-in-browser")).to_be_visible()
    assert api.get("/v1/apps/paused-in-browser").json()["paused_at"] is None
