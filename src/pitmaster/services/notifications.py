"""Notifications: managing targets (admins), setting rules, sending a test, reading deliveries.

A target's URL and signing secret are sealed with ``PITMASTER_SECRETS_KEY`` before
they reach the store, as apps' secrets are, and are never read back out: what is
shown is ``url_hint``. A webhook target made without a secret gets a random one,
answered once, on creation.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from pitmaster.app_secrets import require_box
from pitmaster.errors import InvalidInput
from pitmaster.notifications import (
    FAILURES,
    NotificationRule,
    NotificationTarget,
    NotifyOn,
    TargetKind,
    mask_url,
    seal_target_value,
)
from pitmaster.services.inputs import Description, Input, Name
from pitmaster.settings import Settings
from pitmaster.store.store import Store

logger = logging.getLogger(__name__)

Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s\x00-\x1f\x7f]+$", max_length=2048)]
SigningSecret = Annotated[
    str, StringConstraints(pattern=r"^[\x21-\x7e]+$", min_length=16, max_length=256)
]
ExtraText = Annotated[
    str, StringConstraints(pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$", max_length=2000)
]
RULES_PER_SCOPE_MAX = 20


class TargetCreate(Input):
    name: Name
    kind: TargetKind = Field(description="slack (an incoming webhook) or webhook (signed JSON)")
    url: Url = Field(description="where to post; sealed, and never shown back in full")
    secret: SigningSecret | None = Field(
        default=None,
        description="webhook only: the HMAC-SHA256 signing key (16+ characters); "
        "made up and answered once when not given",
    )
    description: Description = ""

    @model_validator(mode="after")
    def _secret_only_for_webhooks(self) -> TargetCreate:
        if self.kind is TargetKind.SLACK and self.secret is not None:
            raise ValueError("a slack target has no signing secret (its URL is its credential)")
        return self


class TargetUpdate(Input):
    url: Url | None = None
    secret: SigningSecret | None = None
    description: Description | None = None


class RuleInput(Input):
    target: Name = Field(description="the notification target's name")
    endings: list[NotifyOn] = Field(
        default_factory=lambda: sorted(FAILURES),
        max_length=len(NotifyOn),
        description="which endings notify (default: every failure, not success)",
    )
    after_last_retry: bool = Field(
        default=True,
        description="true: a failure that will be retried notifies nothing; false: every attempt",
    )
    extra_text: ExtraText = Field(default="", description="added to the message, e.g. <@U123>")

    def rule(self) -> NotificationRule:
        return NotificationRule(
            target=self.target,
            endings=frozenset(self.endings),
            after_last_retry=self.after_last_retry,
            extra_text=self.extra_text,
        )


class QueueRuleInput(Input):
    target: Name
    pending_minutes: float = Field(
        gt=0, le=7 * 24 * 60, description="notify once for work pending longer than this"
    )
    extra_text: ExtraText = ""

    def rule(self) -> NotificationRule:
        return NotificationRule(
            target=self.target,
            endings=frozenset(),
            extra_text=self.extra_text,
            pending_minutes=self.pending_minutes,
        )


class SlackNotification(Input):
    """barbeque's ``slack_notification`` of a job definition, as its API and exports have it."""

    channel: Annotated[str, StringConstraints(pattern=r"^#?[A-Za-z0-9_.-]+$", max_length=255)]
    notify_success: bool = False
    failure_notification_text: ExtraText = ""
    notify_failure_only_if_retry_limit_reached: bool = False

    def rule(self) -> NotificationRule:
        """The rule it means: the channel names a target (a Slack webhook posts to one channel)."""
        endings = set(FAILURES - {NotifyOn.CANCELLED})
        if self.notify_success:
            endings.add(NotifyOn.SUCCESS)
        return NotificationRule(
            target=self.channel.removeprefix("#"),
            endings=frozenset(endings),
            after_last_retry=self.notify_failure_only_if_retry_limit_reached,
            extra_text=self.failure_notification_text,
        )


@dataclass(frozen=True)
class CreatedTarget:
    target: NotificationTarget
    secret: str | None  # a webhook's signing secret made up for it, shown this once


def create_target(store: Store, settings: Settings, body: TargetCreate) -> CreatedTarget:
    box = require_box(settings.secrets_keys)
    made_up = None
    secret = body.secret
    if body.kind is TargetKind.WEBHOOK and secret is None:
        secret = made_up = secrets.token_urlsafe(32)
    target = store.notifications.create_target(
        body.name,
        body.kind,
        body.description,
        seal_target_value(box, body.name, "url", body.url),
        mask_url(body.url),
        seal_target_value(box, body.name, "secret", secret) if secret else None,
    )
    logger.info("notification target %s (%s) created", target.name, target.kind)
    return CreatedTarget(target, made_up)


def update_target(
    store: Store, settings: Settings, name: str, body: TargetUpdate
) -> NotificationTarget:
    changes: dict[str, Any] = {"description": body.description}
    if body.url is not None or body.secret is not None:
        box = require_box(settings.secrets_keys)
        if body.url is not None:
            changes["sealed_url"] = seal_target_value(box, name, "url", body.url)
            changes["url_hint"] = mask_url(body.url)
        if body.secret is not None:
            if store.notifications.get_target(name).kind is TargetKind.SLACK:
                raise InvalidInput("a slack target has no signing secret")
            changes["sealed_secret"] = seal_target_value(box, name, "secret", body.secret)
    target = store.notifications.update_target(name, **changes)
    logger.info("notification target %s updated", name)
    return target


def delete_target(store: Store, name: str) -> None:
    store.notifications.delete_target(name)
    logger.info("notification target %s deleted, with its rules and notifications", name)


def send_test(store: Store, name: str) -> str:
    """Queue a test notification to a target; its delivery id (a worker delivers it)."""
    delivery_id = store.notifications.add_test(name)
    logger.info("test notification %s queued for target %s", delivery_id, name)
    return delivery_id


def _checked(rules: list[NotificationRule]) -> list[NotificationRule]:
    if len(rules) > RULES_PER_SCOPE_MAX:
        raise InvalidInput(f"at most {RULES_PER_SCOPE_MAX} notification rules in one place")
    return rules


def set_job_rules(
    store: Store, app: str, job: str | None, rules: list[RuleInput]
) -> list[NotificationRule]:
    """Replace the rules of a job (or, ``job`` None, the app's default rules)."""
    stored = store.notifications.replace_job_rules(app, job, _checked([r.rule() for r in rules]))
    logger.info("notification rules of %s/%s set (%d)", app, job or "*", len(stored))
    return stored


def set_queue_rules(
    store: Store, queue: str, rules: list[QueueRuleInput]
) -> list[NotificationRule]:
    stored = store.notifications.replace_queue_rules(queue, _checked([r.rule() for r in rules]))
    logger.info("notification rules of queue %s set (%d)", queue, len(stored))
    return stored
