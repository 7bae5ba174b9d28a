"""Notifications, as plain logic: which endings notify, what a message says, how it is signed,
and when a failed delivery is tried again.

No I/O here: the store writes notifications (an outbox, in the transaction that
records the ending), ``notification_sender`` sends them, the worker's notifier
loop ties the two together.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from http import HTTPStatus
from typing import Any, TypeVar

from pitmaster.app_secrets import SecretBox
from pitmaster.models import EndingReason, FromRow, Status


class TargetKind(StrEnum):
    SLACK = "slack"  # a Slack incoming webhook: the URL is the credential
    WEBHOOK = "webhook"  # any HTTP endpoint: a signed JSON body


class NotifyOn(StrEnum):
    """The endings a rule can name."""

    SUCCESS = "success"
    FAILED = "failed"  # the job exited non-zero
    ERROR = "error"  # it could not be started, or the system failed it
    TIMEOUT = "timeout"
    OOM = "oom"
    LOST = "lost"
    CANCELLED = "cancelled"


FAILURES = frozenset(NotifyOn) - {NotifyOn.SUCCESS}


class Event(StrEnum):
    ENDING = "ending"  # an attempt ended
    PENDING = "pending"  # an execution waited in its queue longer than a rule allows
    TEST = "test"  # sent by hand from a target's page


class DeliveryState(StrEnum):
    PENDING = "pending"  # to be delivered (again, after ``next_try_at``)
    DELIVERED = "delivered"  # the receiver answered 2xx
    EXPIRED = "expired"  # still failing past the maximum age: given up


_PLAIN_ENDINGS = {
    Status.SUCCESS: NotifyOn.SUCCESS,
    Status.CANCELLED: NotifyOn.CANCELLED,
}


def notify_on_of(status: Status, reason: str | None) -> NotifyOn | None:
    """The kind of an ending a rule names; None for a status that is not an ending."""
    if status in _PLAIN_ENDINGS:
        return _PLAIN_ENDINGS[status]
    if status is Status.FAILED:
        if reason == EndingReason.TIMEOUT:
            return NotifyOn.TIMEOUT
        if reason == EndingReason.OOM:
            return NotifyOn.OOM
        return NotifyOn.FAILED
    if status is Status.ERROR:
        return NotifyOn.LOST if reason == EndingReason.LOST else NotifyOn.ERROR
    return None


@dataclass(frozen=True)
class NotificationTarget(FromRow):
    """A named place notifications go; its URL and secret stay sealed in the store."""

    id: int
    name: str
    kind: TargetKind
    description: str
    url_hint: str
    has_secret: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class OpenTarget:
    """A target with its URL and secret opened, for the notifier only."""

    name: str
    kind: TargetKind
    url: str
    secret: str | None


@dataclass(frozen=True)
class NotificationRule:
    """Which endings notify ``target``; the scope (app, job or queue) is where it is attached.

    ``after_last_retry``: a failure that will be retried notifies nothing (barbeque's
    ``notify_failure_only_if_retry_limit_reached``). ``pending_minutes`` (queue rules
    only): notify once for each execution pending longer than that.
    """

    target: str
    endings: frozenset[NotifyOn] = FAILURES
    after_last_retry: bool = True
    extra_text: str = ""
    pending_minutes: float | None = None

    def wants(self, ending: NotifyOn, will_retry: bool) -> bool:
        if ending not in self.endings:
            return False
        return not (will_retry and self.after_last_retry)

    def as_dict(self) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "target": self.target,
            "endings": sorted(self.endings),
            "after_last_retry": self.after_last_retry,
            "extra_text": self.extra_text,
        }
        if self.pending_minutes is not None:
            shape["pending_minutes"] = self.pending_minutes
        return shape


_R = TypeVar("_R")


def rules_for_job(job_rules: Iterable[_R], app_rules: Iterable[_R]) -> list[_R]:
    """A job's own rules; the app's (its default) when the job has none."""
    own = list(job_rules)
    return own if own else list(app_rules)


@dataclass(frozen=True)
class Notification(FromRow):
    """One notification in the outbox, and how its delivery goes."""

    id: int
    delivery_id: str
    target: str
    event: Event
    payload: dict[str, Any]
    state: DeliveryState
    tries: int
    next_try_at: datetime
    last_status_code: int | None
    last_answer: str | None
    last_tried_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


# -- what a notification says ---------------------------------------------------------


def execution_url(public_url: str | None, message_id: str | None) -> str | None:
    if not public_url or not message_id:
        return None
    return f"{public_url.rstrip('/')}/job_executions/{message_id}"


def duration_seconds(started_at: datetime | None, finished_at: datetime | None) -> float | None:
    if started_at is None or finished_at is None:
        return None
    return max(0.0, (finished_at - started_at).total_seconds())


_MINUTE = 60
_SHOW_TENTHS_BELOW = 10


def describe_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < _MINUTE:
        return f"{seconds:.1f} s" if seconds < _SHOW_TENTHS_BELOW else f"{whole} s"
    minutes, secs = divmod(whole, _MINUTE)
    if minutes < _MINUTE:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, _MINUTE)
    return f"{hours} h {minutes} min"


_ICON = {"success": ":white_check_mark:", "cancelled": ":no_entry_sign:"}


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as markup: https://api.slack.com/reference/surfaces/formatting
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(payload: Mapping[str, Any], public_url: str | None) -> dict[str, Any]:
    """The body of a Slack incoming-webhook post: a one-line summary, then the details."""
    app, job = payload.get("app", "?"), payload.get("job", "?")
    event = payload.get("event")
    url = execution_url(public_url, payload.get("message_id"))
    name = f"{app}/{job}"
    linked = f"<{url}|{_slack_escape(name)}>" if url else _slack_escape(name)
    if event == Event.PENDING:
        minutes = payload.get("pending_minutes")
        headline = (
            f":hourglass: {linked} has been pending in queue "
            f"{_slack_escape(str(payload.get('queue')))} for more than {minutes:g} min"
            if isinstance(minutes, int | float)
            else f":hourglass: {linked} is pending"
        )
    elif event == Event.TEST:
        headline = ":wave: a test notification from pitmaster"
    else:
        ending = str(payload.get("ending", payload.get("status", "?")))
        icon = _ICON.get(ending, ":x:")
        retry = " (will be retried)" if payload.get("will_retry") else ""
        headline = f"{icon} {linked} {ending}{retry}"
    lines = [headline]
    if event == Event.ENDING:
        details = [
            f"*status* {payload.get('status')}",
            f"*reason* {_slack_escape(str(payload.get('reason') or '-'))}",
            f"*duration* {describe_duration(payload.get('duration_seconds'))}",
            f"*attempt* {int(payload.get('attempt', 0)) + 1}",
            f"*queue* {_slack_escape(str(payload.get('queue')))}",
        ]
        lines.append(" · ".join(details))
        lines.append(f"message_id `{payload.get('message_id')}`")
    extra = payload.get("extra_text")
    if extra:
        lines.append(str(extra))  # the rule's own text, mentions included: sent as written
    text = "\n".join(lines)
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def webhook_body(payload: Mapping[str, Any], delivery_id: str, public_url: str | None) -> bytes:
    """The JSON a generic webhook receives: the execution's fields, and the delivery's id."""
    document = dict(payload)
    document["delivery_id"] = delivery_id
    document["html_url"] = execution_url(public_url, payload.get("message_id"))
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


# -- signing --------------------------------------------------------------------------

DELIVERY_HEADER = "Pitmaster-Delivery"
TIMESTAMP_HEADER = "Pitmaster-Timestamp"
SIGNATURE_HEADER = "Pitmaster-Signature"
EVENT_HEADER = "Pitmaster-Event"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256, under ``secret``, of ``"<timestamp>.<body>"``."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Request:
    """One HTTP POST to make."""

    url: str
    body: bytes
    headers: dict[str, str]


def request_for(
    target: OpenTarget,
    delivery_id: str,
    event: str,
    payload: Mapping[str, Any],
    public_url: str | None,
    now: datetime,
) -> Request:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "pitmaster-notifier",
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event,
    }
    if target.kind is TargetKind.SLACK:
        body = json.dumps(slack_message(payload, public_url)).encode("utf-8")
    else:
        body = webhook_body(payload, delivery_id, public_url)
        timestamp = int(now.timestamp())
        headers[TIMESTAMP_HEADER] = str(timestamp)
        if target.secret:
            headers[SIGNATURE_HEADER] = signature(target.secret, timestamp, body)
    return Request(target.url, body, headers)


# -- retrying ---------------------------------------------------------------------------

FIRST_RETRY_SECONDS = 5.0
LONGEST_RETRY_SECONDS = 600.0


@dataclass(frozen=True)
class NextTry:
    """After a failed try: try again at ``at``, or give up (``at`` is None)."""

    at: datetime | None


def after_failure(
    tries: int, created_at: datetime, now: datetime, max_age_seconds: float
) -> NextTry:
    """When to try again after ``tries`` failed tries: exponential, capped, until too old."""
    delay = min(LONGEST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, tries - 1))
    at = now + timedelta(seconds=delay)
    if at - created_at > timedelta(seconds=max_age_seconds):
        return NextTry(None)
    return NextTry(at)


# Client errors that may pass: a timeout on the receiver's side, or its rate limit.
_TRANSIENT_CLIENT_ERRORS = frozenset({HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_MANY_REQUESTS})


def refused_for_good(status_code: int | None) -> bool:
    """A 4xx (but 408 or 429): the request itself is wrong, e.g. a Slack webhook deleted
    (404) or revoked (403); sending it again cannot help, so it is given up at once."""
    if status_code is None:
        return False
    is_client_error = HTTPStatus.BAD_REQUEST <= status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    return is_client_error and status_code not in _TRANSIENT_CLIENT_ERRORS


def delivered(status_code: int) -> bool:
    return HTTPStatus.OK <= status_code < HTTPStatus.MULTIPLE_CHOICES


_URL_TAIL_SHOWN = 4


def mask_url(url: str) -> str:
    """A URL as it may be shown back: scheme and host, the rest hidden but its last 4."""
    scheme, _, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    if not slash:
        return f"{scheme}://{host}"
    tail = path[-_URL_TAIL_SHOWN:] if len(path) > _URL_TAIL_SHOWN * 3 else ""
    return f"{scheme}://{host}/…{tail}"


# -- sealing a target's URL and secret ----------------------------------------------------


def _seal_scope(target: str) -> str:
    # SecretBox binds a sealed value to an (app, name) pair; a target is bound to its name.
    return f"notification-target:{target}"


def seal_target_value(box: SecretBox, target: str, field: str, value: str) -> str:
    return box.seal(_seal_scope(target), field, value)


def open_target(
    box: SecretBox, name: str, kind: TargetKind, sealed_url: str, sealed_secret: str | None
) -> OpenTarget:
    url = box.open(_seal_scope(name), "url", sealed_url)
    secret = box.open(_seal_scope(name), "secret", sealed_secret) if sealed_secret else None
    return OpenTarget(name, kind, url, secret)
