"""Topics: what they are, and which subscriptions a published message matches.

A topic fans one published message out to every subscription whose filter
matches it; each subscription names an app's job and the queue to run it on.
A filter is SNS's filter policy kept simple: every key it names must be a
top-level key of the message (a JSON object) whose value equals the filter's
value, or one of the values when the filter gives a list. No filter (or an
empty one) matches every message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

FilterValue = str | int | float | bool | None
Filter = Mapping[str, FilterValue | list[FilterValue]]


@dataclass(frozen=True)
class Topic:
    id: int
    name: str
    description: str
    # The apps (by name) whose tokens may publish to it; an admin always may.
    publishers: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Subscription:
    id: int
    topic: str
    application: str
    job: str
    queue: str
    filter: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    """One execution a publish enqueued, for one subscription."""

    subscription_id: int
    message_id: str
    application: str
    job: str
    queue: str


@dataclass(frozen=True)
class Publication:
    """What a publish did: the executions it enqueued, and how many subscriptions there were."""

    topic: str
    deliveries: tuple[Delivery, ...]
    subscriptions: int
    # True when an idempotency key had published already: these are the first publish's.
    replayed: bool = False
    # Executions enqueued into other apps than the caller's, counted but not shown to it.
    withheld: int = 0

    @property
    def message_ids(self) -> list[str]:
        return [delivery.message_id for delivery in self.deliveries]

    @property
    def enqueued(self) -> int:
        return len(self.deliveries) + self.withheld

    def seen_by_app(self, app: str) -> Publication:
        """This publish as an app sees it: its own executions, and only a count of the rest."""
        own = tuple(delivery for delivery in self.deliveries if delivery.application == app)
        return replace(self, deliveries=own, withheld=self.enqueued - len(own))


def _same(wanted: FilterValue, found: Any) -> bool:
    # JSON's true is not 1: Python's bool is an int, so compare the kind first.
    if isinstance(wanted, bool) or isinstance(found, bool):
        return type(wanted) is type(found) and wanted == found
    if isinstance(found, (list, dict)):
        return False
    return bool(wanted == found)


def matches(message_filter: Filter | None, message: Any) -> bool:
    """True when ``message`` passes ``message_filter`` (see the module's rule)."""
    if not message_filter:
        return True
    if not isinstance(message, dict):
        return False
    for key, wanted in message_filter.items():
        if key not in message:
            return False
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if not any(_same(value, message[key]) for value in allowed):
            return False
    return True
