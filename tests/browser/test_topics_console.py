"""The console's topic pages in Chromium, against a real ``pitmaster up``."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from .conftest import ConsolePage, define_job

# One test process runs every browser test: they share one `pitmaster up` and one Chromium.
pytestmark = pytest.mark.xdist_group("browser")


def test_given_a_topic_made_in_the_console_when_subscribed_and_published_to_then_its_job_runs(
    tab: ConsolePage, api: httpx.Client
) -> None:
    define_job(api, "shop", "on-order", 'echo "order $BARBEQUE_MESSAGE"')
    page = tab.page

    # Given a topic made from the list's form, reached from the header
    tab.goto("/")
    page.get_by_role("navigation").get_by_role("link", name="Topics").click()
    new_topic = page.locator("#new-topic")
    new_topic.get_by_label("Name").fill("orders")
    new_topic.get_by_label("Publishers").fill("shop")
    new_topic.get_by_role("button", name="Create topic").click()
    expect(page.get_by_role("heading", name="Topic orders")).to_be_visible()
    expect(page.locator("#subscriptions")).to_contain_text("No subscriptions")

    # When a filter that is not JSON is given, then the form says so and keeps the input
    subscribe = page.locator("#subscribe")
    subscribe.get_by_label("App").fill("shop")
    subscribe.get_by_label("Job").fill("on-order")
    subscribe.get_by_label("Filter").fill("{paid")
    subscribe.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("alert")).to_contain_text("the filter is not valid JSON")
    expect(page.locator("#subscribe").get_by_label("Job")).to_have_value("on-order")

    # When subscribed with a filter, then the subscription shows it
    page.locator("#subscribe").get_by_label("Filter").fill('{"kind": "paid"}')
    page.locator("#subscribe").get_by_role("button", name="Subscribe").click()
    rows = page.locator("#subscriptions tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text('{"kind": "paid"}')
    expect(rows.first).to_contain_text("on-order")

    # When a message that matches is published, then its execution is linked and runs
    publish = page.locator("#publish")
    publish.get_by_label("Message (JSON)").fill('{"kind": "paid", "id": 7}')
    publish.get_by_role("button", name="Publish").click()
    published = page.locator("#published")
    expect(published).to_contain_text("Enqueued 1 executions for 1 subscriptions.")
    tab.screenshot("topic-published")
    published.get_by_role("link").first.click()
    expect(page.locator("#status")).to_have_text("success", timeout=60_000)

    # When one that does not match is published, then nothing is enqueued, and it says why
    tab.goto("/topics/orders")
    page.locator("#publish").get_by_label("Message (JSON)").fill('{"kind": "free"}')
    page.locator("#publish").get_by_role("button", name="Publish").click()
    expect(page.locator("#published")).to_contain_text("matched none of the 1 subscriptions")

    # When the subscription is deleted, then the topic has none
    page.get_by_role("button", name="Delete subscription").click()
    expect(page.locator("#subscriptions")).to_contain_text("No subscriptions")
    tab.goto("/topics")
    expect(page.locator("#topics")).to_contain_text("orders")
    tab.screenshot("topics")
    assert tab.csp_violations == []
