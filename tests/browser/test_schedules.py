"""The schedules pages in Chromium: make one through the form, see its next runs, pause,
resume, and run it now into a real container that gets its tick's time."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from .conftest import ConsolePage, define_job

pytestmark = pytest.mark.xdist_group("browser")

LONG = 30_000


def test_create_a_schedule_then_pause_resume_and_run_it_now(
    tab: ConsolePage, api: httpx.Client
) -> None:
    page = tab.page
    define_job(api, "cron", "stamp", 'echo "tick $PITMASTER_SCHEDULED_AT"')

    # Given the schedules page, when a schedule is made through its form
    tab.goto("/schedules")
    page.get_by_role("link", name="New schedule").click()
    page.get_by_label("Name", exact=True).fill("nightly")
    page.get_by_label("App", exact=True).fill("cron")
    page.get_by_label("Job", exact=True).fill("stamp")
    page.get_by_label("Cron").fill("30 2 * * *")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.locator("select[name=missed_ticks]").select_option("all")
    tab.screenshot("schedule-form")
    page.get_by_role("button", name="Create schedule").click()

    # Then its page shows the next five runs
    expect(page.get_by_role("heading", name="Schedule nightly")).to_be_visible()
    expect(page.locator("ol.next-runs li")).to_have_count(5)
    # (shown relative, "in 20 h", with the exact moment in the <time> element)
    first_run = page.locator("ol.next-runs li time").first
    expect(first_run).to_have_attribute("datetime", re.compile(r":30:00\+00:00$"))
    tab.screenshot("schedule")

    # When it is paused, it has no next runs; resumed, it has them again
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("heading", name="Schedule nightly (paused)")).to_be_visible()
    expect(page.locator("ol.next-runs")).to_contain_text("None while paused.")
    assert api.get("/v1/schedules/nightly").json()["paused"] is True
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("ol.next-runs li")).to_have_count(5)

    # When it is run now, its execution runs and its job sees the time it was scheduled at
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#status")).to_have_text("success", timeout=LONG)
    expect(page.locator("#stdout")).to_contain_text(re.compile(r"tick \d{4}-\d\d-\d\dT"))

    # And the list shows it, and its executions are listed from its page
    tab.goto("/schedules")
    expect(page.get_by_role("link", name="nightly")).to_be_visible()
    tab.goto("/schedules/nightly")
    page.get_by_role("link", name="All of them →").click()
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    assert tab.dialogs == [] and tab.csp_violations == []
