"""The plain logic of notifications: which endings notify, what a message says, signing, retries."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from pitmaster.models import Status
from pitmaster.notifications import (
    FAILURES,
    LONGEST_RETRY_SECONDS,
    Event,
    NotificationRule,
    NotifyOn,
    OpenTarget,
    TargetKind,
    after_failure,
    mask_url,
    notify_on_of,
    refused_for_good,
    request_for,
    rules_for_job,
    signature,
    slack_message,
)
from pitmaster.services.notifications import SlackNotification

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PAYLOAD = {
    "event": "ending",
    "app": "shop",
    "job": "mail",
    "queue": "default",
    "message_id": "6f1c2d43-0000-4000-8000-000000000001",
    "status": "failed",
    "ending": "failed",
    "reason": "exited 3",
    "exit_code": 3,
    "attempt": 2,
    "will_retry": False,
    "duration_seconds": 75.0,
    "extra_text": "<@U024BE7LH> please look",
}


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (Status.SUCCESS, "exited 0", NotifyOn.SUCCESS),
        (Status.FAILED, "exited 1", NotifyOn.FAILED),
        (Status.FAILED, "timeout", NotifyOn.TIMEOUT),
        (Status.FAILED, "oom", NotifyOn.OOM),
        (Status.ERROR, "lost", NotifyOn.LOST),
        (Status.ERROR, "no such image", NotifyOn.ERROR),
        (Status.CANCELLED, "cancelled", NotifyOn.CANCELLED),
        (Status.RUNNING, None, None),
    ],
)
def test_given_an_ending_when_classified_then_it_is_the_kind_rules_name(
    status: Status, reason: str | None, expected: NotifyOn | None
) -> None:
    assert notify_on_of(status, reason) is expected


def test_given_a_rule_for_the_last_retry_when_a_failure_will_be_retried_then_it_does_not_notify():
    rule = NotificationRule("ops", FAILURES, after_last_retry=True)
    assert not rule.wants(NotifyOn.FAILED, will_retry=True)
    assert rule.wants(NotifyOn.FAILED, will_retry=False)
    assert not rule.wants(NotifyOn.SUCCESS, will_retry=False)


def test_given_a_rule_for_every_attempt_when_a_failure_will_be_retried_then_it_notifies():
    assert NotificationRule("ops", after_last_retry=False).wants(NotifyOn.TIMEOUT, will_retry=True)


def test_given_job_rules_and_app_rules_then_the_jobs_own_win_and_the_apps_are_the_default():
    assert rules_for_job(["job"], ["app"]) == ["job"]
    assert rules_for_job([], ["app-1", "app-2"]) == ["app-1", "app-2"]


def test_given_a_failure_when_rendered_for_slack_then_it_says_job_status_reason_duration_link_and_text():
    text = slack_message(PAYLOAD, "https://jobs.example.com/")["text"]
    assert (
        "<https://jobs.example.com/job_executions/6f1c2d43-0000-4000-8000-000000000001|shop/mail>"
        in text
    )
    assert "failed" in text
    assert "exited 3" in text
    assert "1 min 15 s" in text
    assert "*attempt* 3" in text
    assert text.endswith("<@U024BE7LH> please look")


def test_given_a_reason_with_markup_when_rendered_for_slack_then_it_is_escaped():
    text = slack_message(PAYLOAD | {"reason": "<!channel> & co"}, None)["text"]
    assert "&lt;!channel&gt; &amp; co" in text
    assert "<!channel>" not in text


def test_given_a_webhook_target_when_a_request_is_made_then_an_independent_hmac_check_accepts_it():
    target = OpenTarget(
        "hooks", TargetKind.WEBHOOK, "https://example.com/in", "s3cret-s3cret-s3cret"
    )
    request = request_for(target, "delivery-1", "ending", PAYLOAD, None, NOW)
    timestamp = request.headers["Pitmaster-Timestamp"]
    expected = hmac.new(
        b"s3cret-s3cret-s3cret", timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers["Pitmaster-Signature"] == f"sha256={expected}"
    assert request.headers["Pitmaster-Delivery"] == "delivery-1"
    assert json.loads(request.body)["delivery_id"] == "delivery-1"
    assert json.loads(request.body)["exit_code"] == 3


def test_given_another_secret_when_signing_then_the_signature_differs():
    body = b"{}"
    assert signature("a" * 16, 1, body) != signature("b" * 16, 1, body)
    assert signature("a" * 16, 1, body) != signature("a" * 16, 2, body)


def test_given_failed_tries_when_retrying_then_the_wait_doubles_up_to_a_cap_and_ends_at_max_age():
    created = NOW
    waits = [
        (after_failure(tries, created, NOW, 86400).at - NOW).total_seconds()  # type: ignore[operator]
        for tries in (1, 2, 3, 10, 20)
    ]
    assert waits[:3] == [5.0, 10.0, 20.0]
    assert waits[-1] == LONGEST_RETRY_SECONDS
    assert after_failure(3, created, created + timedelta(hours=24), 86400).at is None


def test_given_a_slack_url_when_masked_then_its_secret_path_is_hidden():
    url = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXabcd"
    assert mask_url(url) == "https://hooks.slack.com/…abcd"
    assert "XXXX" not in mask_url(url)


def test_given_barbeques_slack_settings_then_they_map_onto_a_rule():
    rule = SlackNotification(
        channel="#ops",
        notify_success=True,
        failure_notification_text="@oncall",
        notify_failure_only_if_retry_limit_reached=True,
    ).rule()
    assert rule.target == "ops"
    assert NotifyOn.SUCCESS in rule.endings
    assert NotifyOn.FAILED in rule.endings
    assert rule.after_last_retry
    assert rule.extra_text == "@oncall"
    assert SlackNotification(channel="ops").rule().after_last_retry is False


def test_given_a_pending_notification_when_rendered_then_it_names_queue_and_minutes():
    payload = {"event": Event.PENDING.value, "app": "shop", "job": "mail", "queue": "bulk"}
    text = slack_message(payload | {"pending_minutes": 15}, None)["text"]
    assert "pending in queue bulk for more than 15 min" in text


@pytest.mark.parametrize(
    ("status_code", "for_good"),
    [
        (404, True),
        (403, True),
        (400, True),
        (408, False),
        (429, False),
        (500, False),
        (None, False),
    ],
)
def test_given_a_receivers_answer_then_only_a_lasting_client_error_gives_up_at_once(
    status_code: int | None, for_good: bool
) -> None:
    assert refused_for_good(status_code) is for_good
