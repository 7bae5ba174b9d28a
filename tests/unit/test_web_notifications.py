"""The console's notification pages: targets made, shown without their URL, tested, deleted;
an execution's page lists its notifications."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pitmaster.app_secrets import new_key
from pitmaster.models import Outcome, Status
from pitmaster.notifications import NotifyOn, TargetKind
from pitmaster.server.app import create_app
from pitmaster.services import notifications, tokens
from pitmaster.services.notifications import RuleInput
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from .conftest import form_token, log_in

SLACK_URL = "https://hooks.slack.com/services/T0/B0/abcdefghijklmnopqrstuvwx"


@pytest.fixture
def sealing(settings: Settings) -> Settings:
    return settings.model_copy(update={"secrets_key": SecretStr(new_key())})


@pytest.fixture
def console(sealing: Settings, store: Store) -> Iterator[TestClient]:
    tokens.ensure_admin_tokens(sealing, store)
    with TestClient(create_app(sealing, store), raise_server_exceptions=True) as client:
        log_in(client)
        yield client


def _post(console: TestClient, path: str, **fields: str) -> httpx.Response:
    token = form_token(console, "/notification_targets")
    return console.post(path, data={"csrf_token": token, **fields}, follow_redirects=True)


def test_given_the_form_when_a_slack_target_is_made_then_its_page_hides_the_url_and_can_send_a_test(
    console: TestClient, store: Store
) -> None:
    made = _post(console, "/notification_targets", name="ops", kind="slack", url=SLACK_URL)
    assert made.status_code == 200
    page = console.get("/notification_targets/ops")
    assert "abcdefghijklmnop" not in page.text
    assert "https://hooks.slack.com/…uvwx" in page.text

    tested = _post(console, "/notification_targets/ops/test")
    assert "Test notification" in tested.text
    assert "pending" in tested.text
    assert len(store.notifications.deliveries_of("ops")) == 1

    _post(console, "/notification_targets/ops/delete")
    assert store.notifications.list_targets() == []


def test_given_a_bad_url_when_posted_then_the_form_says_why_and_does_not_echo_it(
    console: TestClient,
) -> None:
    answer = _post(
        console, "/notification_targets", name="ops", kind="slack", url="ftp://x/secret-part"
    )
    assert answer.status_code == 422
    assert "secret-part" not in answer.text


def test_given_a_webhook_made_without_a_secret_then_the_made_up_secret_is_shown_once(
    console: TestClient,
) -> None:
    made = _post(
        console, "/notification_targets", name="hooks", kind="webhook", url="https://example.com/in"
    )
    assert 'id="new-secret"' in made.text
    assert 'id="new-secret"' not in console.get("/notification_targets/hooks").text


def test_given_an_ended_execution_with_notifications_then_its_page_lists_them(
    console: TestClient, store: Store, sealing: Settings
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    notifications.create_target(
        store, sealing, notifications.TargetCreate(name="ops", kind=TargetKind.SLACK, url=SLACK_URL)
    )
    notifications.set_job_rules(
        store, "shop", "mail", [RuleInput(target="ops", endings=[NotifyOn.SUCCESS])]
    )
    execution = store.enqueue("shop", "mail", "default", {})
    claim = store.claim("w", 60)
    assert claim is not None
    store.record_outcome(claim.attempt_id, Outcome(Status.SUCCESS, "exited 0", 0))

    page = console.get(f"/job_executions/{execution.message_id}")

    assert 'id="notifications"' in page.text
    assert "/notification_targets/ops" in page.text
