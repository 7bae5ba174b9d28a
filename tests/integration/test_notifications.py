"""Notifications end to end: a real worker runs a real container, and a receiver on
127.0.0.1 gets the notification of its ending, signed, once."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import SecretStr

from pitmaster.app_secrets import new_key
from pitmaster.notifications import DeliveryState, TargetKind
from pitmaster.services import notifications
from pitmaster.services.notifications import RuleInput, TargetCreate
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from ..receivers import receiver
from ..waiting import wait_for
from .conftest import WorkerFactory, wait_until_ended

pytestmark = pytest.mark.docker

SECRET = "whsec-integration-0123456789"


def test_given_a_job_that_fails_twice_when_run_by_a_worker_then_one_signed_notification_arrives(
    docker_store: Store, start_worker: WorkerFactory, worker_settings: Settings
) -> None:
    key = new_key()
    sealing = worker_settings.model_copy(update={"secrets_key": SecretStr(key)})
    docker_store.create_job_definition(
        "demo", "flaky", ["sh", "-c", "echo no >&2; exit 3"], retry_limit=1, base_delay=0
    )
    with receiver() as hook:
        notifications.create_target(
            docker_store,
            sealing,
            TargetCreate(name="hook", kind=TargetKind.WEBHOOK, url=hook.url, secret=SECRET),
        )
        notifications.set_job_rules(docker_store, "demo", "flaky", [RuleInput(target="hook")])
        execution = docker_store.enqueue("demo", "flaky", "default", {})

        start_worker(secrets_key=SecretStr(key))
        wait_until_ended(docker_store, execution.message_id)
        [delivered] = wait_for(lambda: hook.received, timeout=30, what="the notification")

        # The first failure was retried: only the last one notifies.
        body = delivered.json()
        assert (body["status"], body["attempt"], body["will_retry"]) == ("failed", 1, False)
        assert body["exit_code"] == 3
        timestamp = delivered.headers["Pitmaster-Timestamp"]
        mac = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + delivered.body, hashlib.sha256)
        assert delivered.headers["Pitmaster-Signature"] == "sha256=" + mac.hexdigest()
        [stored] = wait_for(
            lambda: [
                n
                for n in docker_store.notifications.notifications_of(execution.message_id)
                if n.state is DeliveryState.DELIVERED
            ],
            timeout=10,
            what="the delivery recorded",
        )
        assert stored.delivery_id == delivered.headers["Pitmaster-Delivery"]
        assert len(hook.received) == 1
