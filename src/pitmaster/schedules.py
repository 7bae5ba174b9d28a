"""Schedules: an app's job, enqueued on a queue with a message at each tick of a cron expression.

Each tick makes exactly one execution, however many workers tick at once: the
execution is inserted, with an idempotency key made of the schedule's id and
the tick's time, in the transaction that moves the schedule's ``next_tick`` on
by compare-and-set (``store/schedules.py``). When ticks fall is ``cron.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pitmaster.cron import Cron, MissedTicks


@dataclass(frozen=True)
class Schedule:
    id: int
    name: str
    application: str
    job: str
    queue: str
    message: Any
    cron: str
    timezone: str
    missed_ticks: MissedTicks
    catch_up_limit: int
    paused: bool
    # The next tick to run, UTC; ticking moves it on.
    next_tick: datetime
    # Why the last tick made no execution (its job or queue is gone), if it did not.
    last_error: str | None
    last_tick: datetime | None
    created_at: datetime
    updated_at: datetime
    description: str = ""

    @property
    def parsed(self) -> Cron:
        return Cron(self.cron, self.timezone)

    def upcoming(self, now: datetime, count: int = 5) -> list[datetime]:
        """The next ``count`` times it will run (none while paused), from ``now``."""
        if self.paused:
            return []
        first = max(self.next_tick, now)
        runs = [self.next_tick] if self.next_tick >= now else []
        return (runs + self.parsed.next_ticks(first, count))[:count]


def tick_key(schedule_id: int, tick: datetime) -> str:
    """The idempotency key of a tick's execution: one execution per schedule and tick."""
    return f"schedule:{schedule_id}:{tick.strftime('%Y-%m-%dT%H:%M:%SZ')}"


@dataclass(frozen=True)
class TickResult:
    """What ticking one schedule did: the executions it made (message_ids), and whether it
    was this caller's tick to make (False: another worker ticked it first)."""

    schedule_id: int
    message_ids: tuple[str, ...]
    won: bool
