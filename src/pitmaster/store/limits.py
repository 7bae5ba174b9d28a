"""Concurrency limits and pauses: what counts against them, and the locks that make limits hold.

An attempt counts against its queue's, its app's and the global limit from the
moment it is claimed until its ending is recorded. A claim re-counts under row
locks (the installation row for the global limit, then the queue's row, then
the app's), always in that order, so that claimers on any number of
PostgreSQL connections serialise per limit and never overshoot it. On SQLite,
``BEGIN IMMEDIATE`` already serialises every claim.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa

from pitmaster.models import AttemptState
from pitmaster.store.schema import apps, attempts, installation, job_executions, job_queues

LIVE_ATTEMPT_STATES = (AttemptState.STARTING.value, AttemptState.RUNNING.value)


@dataclass(frozen=True)
class Limits:
    """The limits in force: ``None`` or a missing name means unlimited; and what is paused."""

    global_limit: int | None
    queues: dict[str, int]
    apps: dict[str, int]
    # Paused queues and apps, each with its reason ("" when none was given).
    paused_queues: dict[str, str] = field(default_factory=dict)
    paused_apps: dict[str, str] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return self.global_limit is not None or bool(self.queues) or bool(self.apps)


@dataclass(frozen=True)
class InFlight:
    """Attempts claimed or running, in total and by queue and app."""

    total: int
    by_queue: Counter[str]
    by_app: Counter[str]


def full_reason(limits: Limits, in_flight: InFlight, queue: str, app: str) -> str | None:
    """Why work on this queue for this app cannot start now, or None if it can."""
    if limits.global_limit is not None and in_flight.total >= limits.global_limit:
        return f"pitmaster is at its global limit of {limits.global_limit}"
    queue_limit = limits.queues.get(queue)
    if queue_limit is not None and in_flight.by_queue[queue] >= queue_limit:
        return f"queue {queue!r} is at its limit of {queue_limit}"
    app_limit = limits.apps.get(app)
    if app_limit is not None and in_flight.by_app[app] >= app_limit:
        return f"app {app!r} is at its limit of {app_limit}"
    return None


def paused_reason(limits: Limits, queue: str, app: str) -> str | None:
    """Why work on this queue for this app does not start: its queue or its app is paused."""
    for kind, name, paused in (
        ("queue", queue, limits.paused_queues),
        ("app", app, limits.paused_apps),
    ):
        if name in paused:
            why = paused[name]
            return f"{kind} {name!r} is paused" + (f": {why}" if why else "")
    return None


def blocked_queues(limits: Limits, in_flight: InFlight) -> list[str]:
    full = [name for name, limit in limits.queues.items() if in_flight.by_queue[name] >= limit]
    return full + list(limits.paused_queues)


def blocked_apps(limits: Limits, in_flight: InFlight) -> list[str]:
    full = [name for name, limit in limits.apps.items() if in_flight.by_app[name] >= limit]
    return full + list(limits.paused_apps)


def read_limits(conn: sa.Connection, global_limit: int | None) -> Limits:
    # One round trip for both kinds, limits and pauses: every claim starts with this.
    limited = sa.union_all(
        *(
            sa.select(
                sa.literal(kind).label("kind"),
                table.c.name,
                table.c.max_concurrent_executions,
                table.c.paused_at.is_not(None).label("paused"),
                table.c.pause_reason,
            ).where(
                sa.or_(
                    table.c.max_concurrent_executions.is_not(None), table.c.paused_at.is_not(None)
                )
            )
            for kind, table in (("queue", job_queues), ("app", apps))
        )
    )
    limits = Limits(global_limit=global_limit, queues={}, apps={})
    for kind, name, limit, paused, why in conn.execute(limited).all():
        if limit is not None:
            (limits.queues if kind == "queue" else limits.apps)[name] = limit
        if paused:
            (limits.paused_queues if kind == "queue" else limits.paused_apps)[name] = why or ""
    return limits


def count_in_flight(conn: sa.Connection) -> InFlight:
    rows = conn.execute(
        sa.select(job_executions.c.queue, job_executions.c.application, sa.func.count())
        .select_from(attempts)
        .join(job_executions, job_executions.c.id == attempts.c.execution_id)
        .where(attempts.c.state.in_(LIVE_ATTEMPT_STATES))
        .group_by(job_executions.c.queue, job_executions.c.application)
    ).all()
    by_queue: Counter[str] = Counter()
    by_app: Counter[str] = Counter()
    for queue, app, count in rows:
        by_queue[queue] += count
        by_app[app] += count
    return InFlight(total=sum(by_queue.values()), by_queue=by_queue, by_app=by_app)


def lock_and_recheck(conn: sa.Connection, limits: Limits, queue: str, app: str) -> str | None:
    """Take the locks of the limits this work falls under, then count again under them.

    Pauses are not re-read: work claimed while a pause commits may still start,
    as if it had started a moment before.
    """
    if limits.global_limit is None and queue not in limits.queues and app not in limits.apps:
        return None  # no limit applies: nothing to lock or count
    if limits.global_limit is not None:
        conn.execute(sa.select(installation.c.id).with_for_update())
    if queue in limits.queues:
        conn.execute(sa.select(job_queues.c.id).where(job_queues.c.name == queue).with_for_update())
    if app in limits.apps:
        conn.execute(sa.select(apps.c.id).where(apps.c.name == app).with_for_update())
    return full_reason(limits, count_in_flight(conn), queue, app)
