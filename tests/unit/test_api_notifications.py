"""``/v1/notification_targets`` and notification rules over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pitmaster.app_secrets import new_key
from pitmaster.models import Outcome, Status
from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from ..credentials import ADMIN_TOKEN, bearer
from .conftest import serving

ADMIN = bearer(ADMIN_TOKEN)

SLACK_URL = "https://hooks.slack.com/services/T0/B0/abcdefghijklmnopqrstuvwx"


@pytest.fixture
def api(settings: Settings, store: Store) -> Iterator[TestClient]:
    with serving(
        settings.model_copy(update={"secrets_key": SecretStr(new_key())}), store
    ) as client:
        yield client


def test_given_a_slack_target_when_created_then_its_url_is_never_shown_back(
    api: TestClient,
) -> None:
    made = api.post(
        "/v1/notification_targets", json={"name": "ops", "kind": "slack", "url": SLACK_URL}
    )
    assert made.status_code == 201, made.text
    for answer in (
        made,
        api.get("/v1/notification_targets/ops"),
        api.get("/v1/notification_targets"),
    ):
        assert "abcdefghijklmnop" not in answer.text
    assert made.json()["url_hint"] == "https://hooks.slack.com/…uvwx"


def test_given_a_webhook_target_without_a_secret_when_created_then_one_is_made_and_shown_once(
    api: TestClient,
) -> None:
    made = api.post(
        "/v1/notification_targets",
        json={"name": "hooks", "kind": "webhook", "url": "https://example.com/in"},
    )
    assert made.status_code == 201
    assert len(made.json()["secret"]) >= 32
    shown = api.get("/v1/notification_targets/hooks").json()
    assert shown["has_secret"] is True
    assert "secret" not in shown


def test_given_no_secrets_key_when_a_target_is_made_then_503_says_how_to_set_one(
    settings: Settings, store: Store
) -> None:
    # A plain client: the shared one fails any test that gets a 5xx, and this 503 is meant.
    tokens.ensure_admin_tokens(settings, store)
    with TestClient(
        create_app(settings, store), raise_server_exceptions=False, headers=ADMIN
    ) as client:
        answer = client.post(
            "/v1/notification_targets", json={"name": "ops", "kind": "slack", "url": SLACK_URL}
        )
        listed = client.get("/v1/notification_targets")
    assert answer.status_code == 503
    assert "PITMASTER_SECRETS_KEY" in answer.json()["error"]
    assert listed.json() == []


def test_given_rules_when_put_on_a_job_then_they_read_back_and_unknown_targets_are_refused(
    api: TestClient, store: Store
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    api.post("/v1/notification_targets", json={"name": "ops", "kind": "slack", "url": SLACK_URL})
    path = "/v1/apps/shop/job_definitions/mail/notification_rules"

    put = api.put(
        path, json=[{"target": "ops", "endings": ["failed", "timeout"], "extra_text": "@here"}]
    )
    assert put.status_code == 200, put.text
    assert api.get(path).json() == [
        {
            "target": "ops",
            "endings": ["failed", "timeout"],
            "after_last_retry": True,
            "extra_text": "@here",
            "pending_minutes": None,
        }
    ]
    assert api.put(path, json=[{"target": "nobody"}]).status_code == 404
    assert api.put(path, json=[{"target": "ops", "endings": ["exploded"]}]).status_code == 422
    assert len(api.get(path).json()) == 1  # a refused change changes nothing


def test_given_a_queue_rule_then_it_needs_pending_minutes(api: TestClient) -> None:
    api.post("/v1/notification_targets", json={"name": "ops", "kind": "slack", "url": SLACK_URL})
    path = "/v1/job_queues/default/notification_rules"
    assert api.put(path, json=[{"target": "ops"}]).status_code == 422
    assert api.put(path, json=[{"target": "ops", "pending_minutes": 15}]).status_code == 200


def test_given_an_app_token_when_it_touches_targets_then_it_is_refused(
    settings: Settings, store: Store
) -> None:
    store.create_app("shop", "shop:1")
    _, token = tokens.create_token(store, "shop", "")
    with serving(settings, store, token=token) as client:
        assert client.get("/v1/notification_targets").status_code == 403


def test_given_an_ended_execution_then_its_notifications_are_listed_with_their_state(
    api: TestClient, store: Store
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    api.post("/v1/notification_targets", json={"name": "ops", "kind": "slack", "url": SLACK_URL})
    api.put("/v1/apps/shop/notification_rules", json=[{"target": "ops", "endings": ["success"]}])
    execution = store.enqueue("shop", "mail", "default", {})
    claim = store.claim("w", 60)
    assert claim is not None
    assert store.record_outcome(claim.attempt_id, Outcome(Status.SUCCESS, "exited 0", 0))

    listed = api.get(f"/v1/job_executions/{execution.message_id}/notifications").json()
    assert [(n["target"], n["state"], n["tries"]) for n in listed] == [("ops", "pending", 0)]
