"""``pitmaster apply``: make the server's apps, job definitions, queues, topics and notification
targets and rules match one file.

The whole file is validated before anything changes. Applying the same file
twice changes nothing the second time. Things the file does not name are left
alone (nothing is deleted): a topic's subscriptions the file does not name stay,
and one whose filter the file changes is deleted and made again. A notification
target's URL and secret are set when it is made; as they are sealed, they are
not compared after that. Notification rules given for an app, a job or a queue
replace the ones it has.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from pydantic import Field, ValidationError

from pitmaster.client import Client
from pitmaster.errors import InvalidInput
from pitmaster.services.inputs import (
    AppCreate,
    Input,
    JobDefinitionCreate,
    QueueCreate,
    SubscriptionCreate,
    TopicCreate,
)
from pitmaster.services.notifications import (
    QueueRuleInput,
    RuleInput,
    SlackNotification,
    TargetCreate,
)


class JobDefinitionSpec(JobDefinitionCreate):
    notification_rules: list[RuleInput] | None = None
    # barbeque's Slack settings of a job definition: one rule (docs/notifications.md).
    slack_notification: SlackNotification | None = None

    def rules(self) -> list[dict[str, Any]] | None:
        if self.notification_rules is None and self.slack_notification is None:
            return None
        rules = [rule.rule().as_dict() for rule in self.notification_rules or []]
        if self.slack_notification is not None:
            rules.append(self.slack_notification.rule().as_dict())
        return rules


_RULE_FIELDS = {"notification_rules", "slack_notification"}


class AppSpec(AppCreate):
    job_definitions: list[JobDefinitionSpec] = Field(default_factory=list)
    notification_rules: list[RuleInput] | None = None


class QueueSpec(QueueCreate):
    notification_rules: list[QueueRuleInput] | None = None


class TopicSpec(TopicCreate):
    subscriptions: list[SubscriptionCreate] = Field(default_factory=list)


class ApplyFile(Input):
    notification_targets: list[TargetCreate] = Field(default_factory=list)
    queues: list[QueueSpec] = Field(default_factory=list)
    apps: list[AppSpec] = Field(default_factory=list)
    topics: list[TopicSpec] = Field(default_factory=list)


def load(path: Path) -> ApplyFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
    try:
        return ApplyFile.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise InvalidInput(f"{path}: {problems}") from exc


def apply(client: Client, spec: ApplyFile, report: Callable[[str], None]) -> None:
    # First: rules name targets.
    for target in spec.notification_targets:
        _ensure_target(client, target, report)
    for queue in spec.queues:
        fields = queue.model_dump(exclude={"notification_rules"})
        _ensure(client, "queue", queue.name, "/v1/job_queues", fields, report)
        if queue.notification_rules is not None:
            rules = [rule.rule().as_dict() for rule in queue.notification_rules]
            body = [rule.model_dump() for rule in queue.notification_rules]
            owner = f"/v1/job_queues/{_q(queue.name)}"
            _ensure_rules(client, f"queue {queue.name}", owner, rules, report, body)
    for app in spec.apps:
        fields = app.model_dump(exclude={"job_definitions", "notification_rules"})
        _ensure(client, "app", app.name, "/v1/apps", fields, report)
        if app.notification_rules is not None:
            rules = [rule.rule().as_dict() for rule in app.notification_rules]
            _ensure_rules(client, f"app {app.name}", f"/v1/apps/{_q(app.name)}", rules, report)
        for definition in app.job_definitions:
            _ensure(
                client,
                "job definition",
                f"{app.name}/{definition.job}",
                f"/v1/apps/{app.name}/job_definitions",
                definition.model_dump(exclude=_RULE_FIELDS),
                report,
                key="job",
            )
            job_rules = definition.rules()
            if job_rules is not None:
                path = f"/v1/apps/{_q(app.name)}/job_definitions/{_q(definition.job)}"
                _ensure_rules(client, f"job {app.name}/{definition.job}", path, job_rules, report)
    # After the apps: a topic names apps as publishers, and subscribes their jobs.
    for topic in spec.topics:
        fields = topic.model_dump(exclude={"subscriptions"})
        fields["publishers"] = sorted(set(topic.publishers))
        _ensure(client, "topic", topic.name, "/v1/topics", fields, report)
        for subscription in topic.subscriptions:
            _ensure_subscription(client, topic.name, subscription, report)


def _q(name: str) -> str:
    return quote(name, safe="")


def _ensure_target(client: Client, wanted: TargetCreate, report: Callable[[str], None]) -> None:
    path = f"/v1/notification_targets/{_q(wanted.name)}"
    current = client.find(path)
    if current is None:
        client.request("POST", "/v1/notification_targets", json=wanted.model_dump(mode="json"))
        report(f"created notification target {wanted.name}")
    elif current.get("description") != wanted.description:
        client.request("PATCH", path, json={"description": wanted.description})
        report(f"updated notification target {wanted.name} (description)")
    else:
        report(f"unchanged notification target {wanted.name}")


def _ensure_rules(
    client: Client,
    label: str,
    owner: str,
    wanted: list[dict[str, Any]],
    report: Callable[[str], None],
    body: list[dict[str, Any]] | None = None,
) -> None:
    """Make the rules at ``owner`` read as ``wanted``, PUTting ``body`` (default: ``wanted``)."""
    path = f"{owner}/notification_rules"
    current = [{k: v for k, v in rule.items() if v is not None} for rule in client.get(path)]
    if current == wanted:
        report(f"unchanged notification rules of {label}")
        return
    client.request("PUT", path, json=wanted if body is None else body)
    report(f"set notification rules of {label} ({len(wanted)})")


def _ensure_subscription(
    client: Client, topic: str, wanted: SubscriptionCreate, report: Callable[[str], None]
) -> None:
    collection = f"/v1/topics/{quote(topic, safe='')}/subscriptions"
    label = f"{topic} -> {wanted.application}/{wanted.job} on {wanted.queue}"
    body = wanted.model_dump()
    for current in client.get(collection):
        if (current["application"], current["job"], current["queue"]) != (
            wanted.application,
            wanted.job,
            wanted.queue,
        ):
            continue
        if (current["filter"] or None) == (wanted.filter or None):
            report(f"unchanged subscription {label}")
            return
        client.request("DELETE", f"{collection}/{current['id']}")
        client.request("POST", collection, json=body)
        report(f"updated subscription {label} (filter)")
        return
    client.request("POST", collection, json=body)
    report(f"created subscription {label}")


def _ensure(  # noqa: PLR0913, PLR0917 -- what names the resource, where it lives, and what it should be
    client: Client,
    kind: str,
    label: str,
    collection: str,
    wanted: dict[str, Any],
    report: Callable[[str], None],
    key: str = "name",
) -> None:
    path = f"{collection}/{quote(wanted[key], safe='')}"
    current = client.find(path)
    if current is None:
        client.request("POST", collection, json=wanted)
        report(f"created {kind} {label}")
        return
    changes = {
        field: value
        for field, value in wanted.items()
        if field != key and current.get(field) != value
    }
    if changes:
        client.request("PATCH", path, json=changes)
        report(f"updated {kind} {label} ({', '.join(sorted(changes))})")
    else:
        report(f"unchanged {kind} {label}")
