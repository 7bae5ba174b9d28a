"""Tenants are separated by identity, not by name (DESIGN.md invariant 11), on both databases.

Given an app ``shop`` with executions waiting, delayed, running and ended,
when the admin deletes it and makes a new ``shop``, then nothing the old one
made runs as the new one (image, secrets) or is seen by the new one's token.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pitmaster import auth
from pitmaster.errors import NotFound
from pitmaster.models import AttemptState, ExecutionFilter, Outcome, Status
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.schema import attempts, job_executions
from pitmaster.store.store import Store

from ..conftest import ManualClock
from ..credentials import bearer
from .conftest import serving


def _make_shop(store: Store, image: str) -> str:
    store.create_app("shop", image)
    store.create_job_definition("shop", "mail", ["m"])
    return tokens.create_token(store, "shop", "deploys")[1]


def test_given_a_deleted_app_with_live_work_when_made_again_then_the_new_one_inherits_nothing(
    settings: Settings, clocked_store: Store, clock: ManualClock
) -> None:
    store = clocked_store
    old_token = _make_shop(store, "old:1")
    with serving(settings, store, token=old_token) as old:
        # Given: a delayed message, one running, one failed, one with an idempotency key.
        delayed = old.post(
            "/v2/job_executions",
            json={"application": "shop", "job": "mail", "message": {"old": 1}, "delay_seconds": 60},
        ).json()["message_id"]
        running = store.enqueue("shop", "mail", "default", {"old": 2})
        claim = store.claim("w", 60)
        assert claim is not None and claim.execution.id == running.id
        now = datetime.now(UTC)
        store.mark_running(claim.attempt_id, "c-running", "engine", now)
        failed = store.enqueue("shop", "mail", "default", {"old": 3})
        failed_claim = store.claim("w", 60)
        assert failed_claim is not None
        store.mark_running(failed_claim.attempt_id, "c-failed", "engine", now)
        store.record_outcome(failed_claim.attempt_id, Outcome(Status.FAILED, "exited 1", 1, now))
        keyed = old.post(
            "/v2/job_executions",
            json={"application": "shop", "job": "mail", "message": {}, "delay_seconds": 60},
            headers={"Idempotency-Key": "k1"},
        ).json()["message_id"]

    # When the admin deletes shop and makes a new shop, with a secret.
    with serving(settings, store) as admin:
        assert admin.delete("/v1/apps/shop").status_code == 204
    new_token = _make_shop(store, "new:1")
    store.put_secret("shop", "API_TOKEN", "sealed-for-new-shop", 10)

    # Then the old waiting work is cancelled, the running one is asked to stop.
    assert store.get_execution(delayed).status is Status.CANCELLED
    assert store.get_execution(keyed).status is Status.CANCELLED
    assert store.attempts_of(running.id)[-1].stop_reason == "cancelled"
    assert store.attempts_of(running.id)[-1].state is AttemptState.RUNNING  # until the poller
    # and, once its delay has passed, nothing of the old shop is claimed to run.
    clock.advance(120)
    assert store.claim("w", 60) is None

    with serving(settings, store, token=new_token) as new:
        # The new shop's token sees none of it: not listed, not found, not retried.
        listed = new.get("/v1/job_executions", params={"application": "shop"}).json()
        assert listed["items"] == []
        for message_id in (delayed, running.message_id, failed.message_id):
            assert new.get(f"/v1/job_executions/{message_id}").status_code == 404
            assert new.get(f"/v1/job_executions/{message_id}?fields=message").status_code == 404
            assert new.post(f"/v1/job_executions/{message_id}/retries", json={}).status_code == 404
            assert new.post(f"/v1/job_executions/{message_id}/cancel").status_code == 404
        assert (
            new.post("/v1/job_executions/retries", json={"application": "shop"}).json()["retried"]
            == 0
        )
        assert store.get_execution(failed.message_id).status is Status.FAILED  # not retried
        # Its own idempotency key is its own: the old shop's use of it is not replayed.
        mine = new.post(
            "/v2/job_executions",
            json={"application": "shop", "job": "mail", "message": {}, "delay_seconds": 60},
            headers={"Idempotency-Key": "k1"},
        )
        assert mine.status_code == 201 and mine.json()["message_id"] != keyed
        listed = new.get("/v1/job_executions").json()["items"]
        assert [item["message_id"] for item in listed] == [mine.json()["message_id"]]
        # The old shop's token is gone with it.
        assert new.get("/v1/job_executions", headers=bearer(old_token)).status_code == 401

    # The admin still sees the old history, by the app's name.
    with serving(settings, store) as admin:
        old_one = admin.get(f"/v1/job_executions/{failed.message_id}?fields=message")
        assert old_one.status_code == 200 and old_one.json()["message"] == {"old": 3}
    by_name = store.list_executions(ExecutionFilter(application="shop"), limit=10).items
    assert {item.message_id for item in by_name} >= {delayed, failed.message_id}


def test_given_an_execution_without_its_app_when_claimed_then_it_gets_no_image_or_secrets(
    store: Store,
) -> None:
    # Given an execution whose app was deleted while it was being enqueued (its app
    # id no longer names an app), and a new app of the same name with a secret.
    _make_shop(store, "old:1")
    execution = store.enqueue("shop", "mail", "default", {"old": True})
    store.delete_app("shop")
    _make_shop(store, "new:1")
    store.put_secret("shop", "API_TOKEN", "sealed-for-new-shop", 10)
    with store.writing() as conn:
        conn.execute(
            job_executions.update()
            .where(job_executions.c.id == execution.id)
            .values(status="pending", runnable=True, app_id=None)
        )
        conn.execute(
            attempts.update()
            .where(attempts.c.execution_id == execution.id)
            .values(state=AttemptState.QUEUED.value, status=None)
        )
    # When a worker claims it, then it runs nothing of the new shop.
    claim = store.claim("w", 60)
    assert claim is not None and claim.execution.id == execution.id
    assert (claim.docker_image, claim.command, dict(claim.sealed_secrets)) == (None, None, {})


def test_given_an_app_token_when_its_app_is_made_again_between_check_and_enqueue_then_404(
    store: Store,
) -> None:
    # Given a caller holding the old shop's id, when it enqueues into the new shop, then 404.
    old_token = _make_shop(store, "old:1")
    old_id = auth.authenticate(store, old_token).app_id
    store.create_app("blog", "blog:1")  # (SQLite gives the highest id again once it is free)
    store.delete_app("shop")
    _make_shop(store, "new:1")
    with pytest.raises(NotFound, match="does not exist"):
        store.enqueue("shop", "mail", "default", {}, app_id=old_id)
