"""Pausing and resuming queues and apps from the console: a confirmation first, then the change."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pitmaster.models import DEFAULT_QUEUE
from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from .conftest import form_token, log_in


@pytest.fixture
def console(settings: Settings, store: Store) -> Iterator[TestClient]:
    """The console, logged in as admin, with app ``shop``."""
    tokens.ensure_admin_tokens(settings, store)
    store.create_app("shop", "shop:1")
    with TestClient(create_app(settings, store), raise_server_exceptions=True) as client:
        log_in(client)
        yield client


def test_given_the_queues_page_when_pause_is_followed_then_it_asks_before_pausing(
    console: TestClient, store: Store
) -> None:
    queues = console.get("/job_queues").text
    assert f'href="/job_queues/{DEFAULT_QUEUE}/pause"' in queues

    asked = console.get(f"/job_queues/{DEFAULT_QUEUE}/pause")

    assert asked.status_code == 200
    assert "Pause queue default?" in asked.text
    assert store.get_queue(DEFAULT_QUEUE).paused_at is None  # asking changes nothing


def test_given_the_confirmation_when_submitted_then_the_queue_pauses_and_the_page_says_so(
    console: TestClient, store: Store
) -> None:
    token = form_token(console, f"/job_queues/{DEFAULT_QUEUE}/pause")

    done = console.post(
        f"/job_queues/{DEFAULT_QUEUE}/pause",
        data={"csrf_token": token, "reason": "nightly backup"},
        follow_redirects=False,
    )

    assert done.status_code == 303
    assert store.get_queue(DEFAULT_QUEUE).pause_reason == "nightly backup"
    page = console.get("/job_queues").text
    assert "nightly backup" in page
    assert f'href="/job_queues/{DEFAULT_QUEUE}/resume"' in page

    token = form_token(console, f"/job_queues/{DEFAULT_QUEUE}/resume")
    console.post(f"/job_queues/{DEFAULT_QUEUE}/resume", data={"csrf_token": token})
    assert store.get_queue(DEFAULT_QUEUE).paused_at is None


def test_given_an_app_page_when_paused_through_its_confirmation_then_it_shows_paused(
    console: TestClient, store: Store
) -> None:
    assert 'href="/apps/shop/pause"' in console.get("/apps/shop").text
    token = form_token(console, "/apps/shop/pause")

    console.post("/apps/shop/pause", data={"csrf_token": token, "reason": "bad deploy"})

    page = console.get("/apps/shop").text
    assert "bad deploy" in page
    assert 'href="/apps/shop/resume"' in page
    assert store.get_app("shop").paused_at is not None


def test_given_no_csrf_token_when_posting_a_pause_then_refused_and_nothing_paused(
    console: TestClient, store: Store
) -> None:
    response = console.post("/apps/shop/pause", data={"reason": "x"})

    assert response.status_code == 403
    assert store.get_app("shop").paused_at is None


def test_given_an_app_token_session_when_pausing_then_refused(
    settings: Settings, store: Store
) -> None:
    tokens.ensure_admin_tokens(settings, store)
    store.create_app("shop", "shop:1")
    with TestClient(create_app(settings, store)) as client:
        log_in(client, tokens.create_token(store, "shop", "")[1])
        assert client.get("/apps/shop/pause").status_code == 403
    assert store.get_app("shop").paused_at is None
