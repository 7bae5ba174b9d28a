"""The console's topic pages: list, create, subscribe, publish, unsubscribe (admins only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pitmaster.models import ExecutionFilter
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from .conftest import form_token, log_in, serving


@pytest.fixture
def admin(settings: Settings, store: Store) -> Iterator[TestClient]:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["mail"])
    with serving(settings, store) as client:
        log_in(client)
        yield client


def _post(client: TestClient, path: str, **fields: str) -> str:
    response = client.post(path, data={"csrf_token": form_token(client, "/topics"), **fields})
    assert response.status_code == 200, response.text
    return response.text


def test_given_an_admin_when_a_topic_is_made_subscribed_and_published_to_then_each_shows(
    admin: TestClient, store: Store
) -> None:
    page = _post(admin, "/topics", name="orders", description="every order", publishers="shop")
    assert "Topic orders" in page and "No subscriptions" in page

    page = _post(
        admin,
        "/topics/orders/subscriptions",
        application="shop",
        job="mail",
        filter='{"kind": "paid"}',
    )
    assert "{&#34;kind&#34;: &#34;paid&#34;}" in page

    published = _post(admin, "/topics/orders/messages", message='{"kind": "paid"}')
    skipped = _post(admin, "/topics/orders/messages", message='{"kind": "free"}')

    assert "Enqueued 1 executions for 1 subscriptions." in published
    [execution] = store.list_executions(ExecutionFilter(), limit=10).items
    assert f"/job_executions/{execution.message_id}" in published
    assert "matched none of the 1 subscriptions" in skipped
    assert "orders" in admin.get("/topics").text
    [subscription] = store.list_subscriptions("orders")
    page = _post(admin, f"/topics/orders/subscriptions/{subscription.id}/delete")
    assert "No subscriptions" in page


def test_given_bad_input_when_posted_then_the_form_says_why_and_nothing_changes(
    admin: TestClient, store: Store
) -> None:
    _post(admin, "/topics", name="orders")
    token = form_token(admin, "/topics")

    bad_filter = admin.post(
        "/topics/orders/subscriptions",
        data={"csrf_token": token, "application": "shop", "job": "mail", "filter": "{oops"},
    )
    no_job = admin.post(
        "/topics/orders/subscriptions",
        data={"csrf_token": token, "application": "shop", "job": "nope"},
    )
    bad_message = admin.post(
        "/topics/orders/messages", data={"csrf_token": token, "message": "null"}
    )
    bad_name = admin.post("/topics", data={"csrf_token": token, "name": "no spaces"})

    assert bad_filter.status_code == 422 and "the filter is not valid JSON" in bad_filter.text
    assert no_job.status_code == 404 and "nope" in no_job.text
    assert bad_message.status_code == 422 and "cannot be null" in bad_message.text
    assert bad_name.status_code == 422 and "This could not be saved" in bad_name.text
    assert store.list_subscriptions("orders") == []
    assert store.list_executions(ExecutionFilter(), limit=10).items == []
    assert [topic.name for topic in store.list_topics(10)] == ["orders"]


def test_given_an_app_session_then_the_topic_pages_are_forbidden(
    settings: Settings, store: Store
) -> None:
    store.create_app("shop", "shop:1")
    shop = tokens.create_token(store, "shop", "deploys")[1]
    with serving(settings, store) as client:
        log_in(client, shop)
        assert client.get("/topics").status_code == 403
