"""Notifications from the outbox to a real HTTP receiver on 127.0.0.1, on both databases.

Endings are recorded through the store as the worker records them; the notifier
delivers what they put in the outbox. Time is a manual clock, so leases and
retries run out when a test says so.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from pitmaster.app_secrets import SecretBox, new_key
from pitmaster.metrics import Metrics
from pitmaster.models import Outcome, Status
from pitmaster.notification_sender import Answer, Sender
from pitmaster.notifications import DeliveryState, NotifyOn, Request, TargetKind
from pitmaster.services import notifications
from pitmaster.services.notifications import QueueRuleInput, RuleInput, TargetCreate
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.worker.notifier import Notifier

from ..conftest import ManualClock
from ..receivers import Receiver, receiver

SECRET = "whsec-0123456789abcdef"
KEY = new_key()


@pytest.fixture
def sealing(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"secrets_key": SecretStr(KEY), "public_url": "https://pm.example"}
    )


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as started:
        yield started


def _notifier(store: Store, worker_id: str = "w1", lease_seconds: float = 30) -> Notifier:
    return Notifier(
        store,
        Sender(5.0),
        worker_id,
        lease_seconds=lease_seconds,
        max_age_seconds=3600,
        public_url="https://pm.example",
        secrets_keys=KEY,
        metrics=Metrics(),
    )


def _given_shop(
    store: Store,
    settings: Settings,
    url: str,
    kind: TargetKind = TargetKind.WEBHOOK,
    **rule: object,
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"], retry_limit=1)
    notifications.create_target(
        store,
        settings,
        TargetCreate(
            name="hook", kind=kind, url=url, secret=SECRET if kind is TargetKind.WEBHOOK else None
        ),
    )
    notifications.set_job_rules(store, "shop", "mail", [RuleInput(target="hook", **rule)])  # type: ignore[arg-type]


def _end_attempt(store: Store, status: Status, reason: str, exit_code: int | None) -> None:
    claim = store.claim("w", 60)
    assert claim is not None
    started = datetime(2026, 3, 1, 11, 58, 45, tzinfo=UTC)
    store.mark_running(claim.attempt_id, f"c{claim.attempt_id}", "engine", started)
    finished = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert store.record_outcome(
        claim.attempt_id, Outcome(status, reason, exit_code, finished, "", "boom", started)
    )


def test_given_a_slack_target_when_a_job_fails_then_slack_gets_the_message_with_the_failure_text(
    store: Store, sealing: Settings, hook: Receiver
) -> None:
    _given_shop(
        store, sealing, hook.url, TargetKind.SLACK, extra_text="<@U1> look", after_last_retry=False
    )
    store.enqueue("shop", "mail", "default", {})

    _end_attempt(store, Status.FAILED, "exited 3", 3)
    assert _notifier(store).step() == 1

    [got] = hook.received
    text = got.json()["text"]
    assert "shop/mail" in text and "failed (will be retried)" in text
    assert "exited 3" in text and "1 min 15 s" in text
    assert "https://pm.example/job_executions/" in text
    assert text.endswith("<@U1> look")


def test_given_a_webhook_target_when_delivered_then_an_independent_check_verifies_its_signature(
    store: Store, sealing: Settings, hook: Receiver
) -> None:
    _given_shop(store, sealing, hook.url, endings=[NotifyOn.SUCCESS])
    execution = store.enqueue("shop", "mail", "default", {})

    _end_attempt(store, Status.SUCCESS, "exited 0", 0)
    _notifier(store).step()

    [got] = hook.received
    timestamp = got.headers["Pitmaster-Timestamp"]
    mac = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + got.body, hashlib.sha256)
    assert hmac.compare_digest(got.headers["Pitmaster-Signature"], "sha256=" + mac.hexdigest())
    body = got.json()
    assert body["message_id"] == execution.message_id
    assert body["status"] == "success"
    assert body["delivery_id"] == got.headers["Pitmaster-Delivery"]


def test_given_only_after_the_last_retry_when_a_failure_is_retried_then_nothing_is_sent(
    store: Store, sealing: Settings, hook: Receiver
) -> None:
    _given_shop(store, sealing, hook.url, after_last_retry=True)
    execution = store.enqueue("shop", "mail", "default", {})

    _end_attempt(store, Status.FAILED, "exited 3", 3)  # the first of two attempts: retried
    _notifier(store).step()

    assert hook.received == []
    assert store.notifications.notifications_of(execution.message_id) == []


def test_given_a_receiver_down_when_it_comes_back_then_it_gets_each_notification_once(
    clocked_store: Store, clock: ManualClock, sealing: Settings, hook: Receiver
) -> None:
    store = clocked_store
    _given_shop(store, sealing, hook.url, endings=[NotifyOn.SUCCESS])
    for _ in range(3):
        store.enqueue("shop", "mail", "default", {})
        _end_attempt(store, Status.SUCCESS, "exited 0", 0)
    notifier = _notifier(store)

    hook.failing = True
    assert notifier.step() == 3
    assert len(hook.refused) == 3
    assert notifier.step() == 0  # not due again yet: backing off
    hook.failing = False
    clock.advance(3600 - 60)  # down for most of an hour
    while notifier.step():
        clock.advance(1)

    ids = hook.delivery_ids()
    assert len(ids) == 3 and len(set(ids)) == 3
    assert {r.headers["Pitmaster-Delivery"] for r in hook.refused} == set(ids)
    assert store.notifications.count_by_state()[DeliveryState.DELIVERED] == 3


def test_given_a_notifier_killed_between_recording_and_delivering_then_another_delivers_it(
    clocked_store: Store, clock: ManualClock, sealing: Settings, hook: Receiver
) -> None:
    store = clocked_store
    _given_shop(store, sealing, hook.url, endings=[NotifyOn.SUCCESS])
    store.enqueue("shop", "mail", "default", {})
    _end_attempt(store, Status.SUCCESS, "exited 0", 0)

    # The first worker leases the notification and dies before sending it.
    assert len(store.notifications.claim_notifications("dead-worker", 30)) == 1
    survivor = _notifier(store, "w2")
    assert survivor.step() == 0  # leased: not sent twice at once
    clock.advance(31)
    assert survivor.step() == 1

    assert len(hook.received) == 1


class _Killed(BaseException):
    """The process dying: nothing after it runs."""


class _SendsThenDies(Sender):
    def send(self, request: Request) -> Answer:
        super().send(request)
        raise _Killed


def test_given_a_notifier_killed_after_sending_then_the_resend_carries_the_same_delivery_id(
    clocked_store: Store, clock: ManualClock, sealing: Settings, hook: Receiver
) -> None:
    store = clocked_store
    _given_shop(store, sealing, hook.url, endings=[NotifyOn.SUCCESS])
    store.enqueue("shop", "mail", "default", {})
    _end_attempt(store, Status.SUCCESS, "exited 0", 0)
    dying = _notifier(store, "dying-worker")
    dying._sender = _SendsThenDies(5.0)

    with pytest.raises(_Killed):  # sent, then died before recording the delivery
        dying.step()
    clock.advance(31)
    _notifier(store, "w2").step()

    ids = hook.delivery_ids()
    assert len(ids) == 2 and len(set(ids)) == 1  # at least once; the receiver drops the repeat


def test_given_rules_on_app_and_job_when_a_job_ends_then_its_own_rules_fan_out_and_the_app_is_default(
    store: Store, sealing: Settings, hook: Receiver
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    store.create_job_definition("shop", "bill", ["b"])
    for name in ("ops", "audit", "app-default"):
        notifications.create_target(
            store, sealing, TargetCreate(name=name, kind=TargetKind.WEBHOOK, url=hook.url + name)
        )
    everything = list(NotifyOn)
    notifications.set_job_rules(
        store,
        "shop",
        "mail",
        [
            RuleInput(target="ops", endings=everything),
            RuleInput(target="audit", endings=everything),
        ],
    )
    notifications.set_job_rules(
        store, "shop", None, [RuleInput(target="app-default", endings=everything)]
    )

    mail = store.enqueue("shop", "mail", "default", {})
    _end_attempt(store, Status.SUCCESS, "exited 0", 0)
    bill = store.enqueue("shop", "bill", "default", {})
    _end_attempt(store, Status.SUCCESS, "exited 0", 0)
    _notifier(store).step()

    paths = sorted(r.path for r in hook.received)
    assert paths == ["/hookapp-default", "/hookaudit", "/hookops"]
    assert {n.target for n in store.notifications.notifications_of(mail.message_id)} == {
        "ops",
        "audit",
    }
    assert [n.target for n in store.notifications.notifications_of(bill.message_id)] == [
        "app-default"
    ]


def test_given_a_waiting_execution_when_cancelled_then_the_cancel_notifies(
    store: Store, sealing: Settings, hook: Receiver
) -> None:
    _given_shop(store, sealing, hook.url, endings=[NotifyOn.CANCELLED])
    execution = store.enqueue("shop", "mail", "default", {})

    store.cancel(execution.message_id)
    _notifier(store).step()

    [got] = hook.received
    assert got.json()["ending"] == "cancelled"


def test_given_a_rotated_key_when_targets_are_resealed_then_they_open_with_the_new_key_alone(
    store: Store, sealing: Settings, hook: Receiver
) -> None:
    _given_shop(store, sealing, hook.url, endings=[NotifyOn.SUCCESS])
    newer = new_key()
    rotating = SecretBox(f"{newer},{KEY}")

    assert store.notifications.reseal_targets(rotating.reseal) == 1

    store.enqueue("shop", "mail", "default", {})
    _end_attempt(store, Status.SUCCESS, "exited 0", 0)
    notifier = _notifier(store)
    notifier._box = SecretBox(newer)  # the old key is gone
    notifier.step()
    assert len(hook.received) == 1


def test_given_a_queue_rule_when_work_waits_longer_than_it_allows_then_it_notifies_once(
    clocked_store: Store, clock: ManualClock, sealing: Settings, hook: Receiver
) -> None:
    store = clocked_store
    _given_shop(store, sealing, hook.url)
    notifications.set_queue_rules(
        store, "default", [QueueRuleInput(target="hook", pending_minutes=15)]
    )
    execution = store.enqueue("shop", "mail", "default", {})

    clock.advance(14 * 60)
    assert _notifier(store).step() == 0
    clock.advance(2 * 60)
    assert _notifier(store).step() == 1
    assert _notifier(store).step() == 0  # once per execution and rule

    [got] = hook.received
    assert (got.json()["event"], got.json()["message_id"]) == ("pending", execution.message_id)


def test_given_deliveries_when_made_then_metrics_count_them_by_outcome(
    clocked_store: Store, clock: ManualClock, sealing: Settings, hook: Receiver
) -> None:
    store = clocked_store
    _given_shop(store, sealing, hook.url, endings=[NotifyOn.SUCCESS])
    store.enqueue("shop", "mail", "default", {})
    _end_attempt(store, Status.SUCCESS, "exited 0", 0)
    notifier = _notifier(store)
    metrics = notifier._metrics

    hook.failing = True
    notifier.step()
    hook.failing = False
    clock.advance(60)
    notifier.step()

    def count(outcome: str) -> float | None:
        return metrics.registry.get_sample_value(
            "pitmaster_notification_deliveries_total", {"outcome": outcome}
        )

    assert (count("retrying"), count("delivered")) == (1.0, 1.0)


def test_given_a_job_with_rules_when_deleted_and_made_again_then_it_has_no_rules(
    store: Store, sealing: Settings, hook: Receiver
) -> None:
    _given_shop(store, sealing, hook.url)
    store.create_queue("bulk")
    notifications.set_queue_rules(store, "bulk", [QueueRuleInput(target="hook", pending_minutes=5)])

    store.delete_job_definition("shop", "mail")
    store.delete_queue("bulk")
    store.create_job_definition("shop", "mail", ["m"])
    store.create_queue("bulk")

    assert store.notifications.job_rules("shop", "mail") == []
    assert store.notifications.queue_rules("bulk") == []
