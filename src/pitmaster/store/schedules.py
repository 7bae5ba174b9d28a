"""Schedules: managing them, and ticking them: one execution per tick across all workers.

A tick is one transaction: a compare-and-set moves the schedule's ``next_tick``
(and only a caller that saw it as it still is may), and the tick's executions
are inserted beside it, each with the idempotency key of its schedule and tick.
Two workers ticking one schedule: one update changes the row, the other's
changes nothing and it inserts nothing. A worker that dies inside the
transaction leaves nothing behind, and the next tick makes the execution.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pitmaster.cron import MissedTicks, TickPlan
from pitmaster.errors import Conflict, NotFound
from pitmaster.models import Execution
from pitmaster.schedules import Schedule, TickResult, tick_key
from pitmaster.store import targets, wakeups
from pitmaster.store.database import Database, page_size
from pitmaster.store.executions import PendingRow, insert_pending, job_priority
from pitmaster.store.schema import apps, job_definitions, job_executions, job_queues, schedules

logger = logging.getLogger(__name__)

_COLUMNS = (*schedules.c, apps.c.name.label("application"))


@dataclass(frozen=True)
class NewSchedule:
    """A schedule as it is created; ``next_tick`` is its first tick (from ``cron.py``)."""

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
    next_tick: datetime
    description: str = ""


class Schedules:
    """The queries about schedules."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- managing ------------------------------------------------------------------

    def create_schedule(self, new: NewSchedule) -> Schedule:
        now = self._db.now()
        try:
            with self._db.writing() as conn:
                app_id = targets.app_id(conn, new.application)
                targets.require_job_and_queue(conn, app_id, new.application, new.job, new.queue)
                conn.execute(
                    schedules.insert().values(
                        name=new.name,
                        description=new.description,
                        app_id=app_id,
                        job=new.job,
                        queue=new.queue,
                        message=new.message,
                        cron=new.cron,
                        timezone=new.timezone,
                        missed_ticks=new.missed_ticks.value,
                        catch_up_limit=new.catch_up_limit,
                        paused=new.paused,
                        next_tick=new.next_tick,
                        created_at=now,
                        updated_at=now,
                    )
                )
                wakeups.notify_work(conn)  # its first tick may come before a worker looks again
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"schedule {new.name!r} already exists") from exc
        return self.get_schedule(new.name)

    def update_schedule(self, name: str, changes: Mapping[Any, Any]) -> Schedule:
        """Change the columns given (``application`` by name); the caller gives a new
        ``next_tick`` when what it depends on changed."""
        values = dict(changes)
        if "missed_ticks" in values:
            values["missed_ticks"] = MissedTicks(values["missed_ticks"]).value
        with self._db.writing() as conn:
            current = _row(conn, name)
            if "application" in values:
                values["app_id"] = targets.app_id(conn, values.pop("application"))
            app_id = values.get("app_id", current["app_id"])
            application = conn.execute(
                sa.select(apps.c.name).where(apps.c.id == app_id)
            ).scalar_one()
            targets.require_job_and_queue(
                conn,
                app_id,
                application,
                values.get("job", current["job"]),
                values.get("queue", current["queue"]),
            )
            values["updated_at"] = self._db.now()
            conn.execute(schedules.update().where(schedules.c.id == current["id"]).values(values))
            wakeups.notify_work(conn)
        return self.get_schedule(name)

    def get_schedule(self, name: str) -> Schedule:
        with self._db.reading() as conn:
            return _schedule(_row(conn, name))

    def list_schedules(
        self, limit: int, after: str | None = None, application: str | None = None
    ) -> list[Schedule]:
        query = _query().order_by(schedules.c.name).limit(page_size(limit))
        if after is not None:
            query = query.where(schedules.c.name > after)
        if application is not None:
            query = query.where(apps.c.name == application)
        with self._db.reading() as conn:
            return [_schedule(row) for row in conn.execute(query).mappings()]

    def delete_schedule(self, name: str) -> None:
        """Delete a schedule; the executions it made stay, and keep its id."""
        with self._db.writing() as conn:
            deleted = conn.execute(schedules.delete().where(schedules.c.name == name)).rowcount
        if not deleted:
            raise NotFound(f"schedule {name!r} does not exist")

    def set_paused(self, name: str, paused: bool, next_tick: datetime | None = None) -> Schedule:
        """Pause, or resume (from ``next_tick``: ticks that fell while paused do not run)."""
        values: dict[str, Any] = {"paused": paused, "updated_at": self._db.now()}
        if next_tick is not None:
            values["next_tick"] = next_tick
        with self._db.writing() as conn:
            updated = conn.execute(
                schedules.update().where(schedules.c.name == name).values(values)
            ).rowcount
            wakeups.notify_work(conn)
        if not updated:
            raise NotFound(f"schedule {name!r} does not exist")
        return self.get_schedule(name)

    # -- ticking -------------------------------------------------------------------

    def due_schedules(self, now: datetime, limit: int = 100) -> list[Schedule]:
        """Schedules not paused whose next tick is at or before ``now``, earliest first."""
        query = (
            _query()
            .where(schedules.c.paused.is_(False), schedules.c.next_tick <= now)
            .order_by(schedules.c.next_tick, schedules.c.id)
            .limit(limit)
        )
        with self._db.reading() as conn:
            return [_schedule(row) for row in conn.execute(query).mappings()]

    def next_due(self) -> datetime | None:
        """The earliest next tick of any schedule not paused."""
        with self._db.reading() as conn:
            found: datetime | None = conn.execute(
                sa.select(schedules.c.next_tick)
                .where(schedules.c.paused.is_(False))
                .order_by(schedules.c.next_tick)
                .limit(1)
            ).scalar()
        return found

    def tick(self, seen: Schedule, plan: TickPlan, *, notify: bool = True) -> TickResult:
        """Run ``plan`` for a schedule as it was ``seen``; nothing if it changed since.

        ``notify=False`` leaves waking the workers to the caller (``notify_work``),
        which ticks many schedules in a row and wakes them once.

        The compare-and-set takes ``next_tick`` and ``updated_at`` as seen: another
        worker's tick, an edit, a pause, each makes this one change nothing. On
        PostgreSQL a schedule another worker is ticking right now is skipped rather
        than waited for (``SKIP LOCKED``), so workers share out many due schedules.
        """
        now = self._db.now()
        s = schedules.c
        as_seen = (
            s.id == seen.id,
            s.next_tick == seen.next_tick,
            s.updated_at == seen.updated_at,
            s.paused.is_(False),
        )
        with self._db.writing() as conn:
            app_id = conn.execute(
                sa.select(s.app_id).where(*as_seen).with_for_update(skip_locked=True)
            ).scalar()
            if app_id is None:
                return TickResult(seen.id, (), won=False)
            problem = _runnable_problem(conn, seen)
            moved = conn.execute(
                schedules.update()
                .where(*as_seen)
                .values(
                    next_tick=plan.next_tick,
                    last_tick=plan.run[-1] if plan.run else s.last_tick,
                    last_error=problem if plan.run else s.last_error,
                )
            ).rowcount
            if not moved:
                return TickResult(seen.id, (), won=False)
            if problem is not None or not plan.run:
                if problem is not None:
                    logger.warning("schedule %s: tick made nothing: %s", seen.name, problem)
                return TickResult(seen.id, (), won=True)
            made = [
                _insert_tick(conn, now, seen, app_id, tick)
                for tick in plan.run
                if not _tick_made(conn, seen, tick)
            ]
            if made and notify:
                wakeups.notify_work(conn)
        return TickResult(seen.id, tuple(made), won=True)

    def notify_work(self) -> None:
        """Wake listening workers (PostgreSQL): executions were made without waking them."""
        if self._db.dialect == "postgresql":
            with self._db.reading() as conn:
                wakeups.notify_work(conn)

    def run_now(self, name: str) -> Execution:
        """An execution of the schedule's job now, outside its ticks (which go on as before)."""
        now = self._db.now()
        with self._db.writing() as conn:
            row = _row(conn, name)
            seen = _schedule(row)
            problem = _runnable_problem(conn, seen)
            if problem is not None:
                raise Conflict(f"schedule {name!r} cannot run: {problem}")
            inserted = insert_pending(
                conn,
                now,
                PendingRow(
                    seen.application,
                    row["app_id"],
                    seen.job,
                    seen.queue,
                    seen.message,
                    now,
                    schedule_id=seen.id,
                    scheduled_at=now,
                    priority=job_priority(conn, row["app_id"], seen.job),
                ),
            )
            wakeups.notify_work(conn)
        return Execution.from_row(inserted)


def _insert_tick(
    conn: sa.Connection, now: datetime, seen: Schedule, app_id: int, tick: datetime
) -> str:
    inserted = insert_pending(
        conn,
        now,
        PendingRow(
            seen.application,
            app_id,
            seen.job,
            seen.queue,
            seen.message,
            now,
            schedule_id=seen.id,
            scheduled_at=tick,
            priority=job_priority(conn, app_id, seen.job),
        ),
        idempotency_key=tick_key(seen.id, tick),
    )
    return str(inserted["message_id"])


def _tick_made(conn: sa.Connection, seen: Schedule, tick: datetime) -> bool:
    """Whether this tick's execution exists: the schedule's next tick moved back (its cron
    was edited, say) over a tick it had run already."""
    e = job_executions.c
    found = conn.execute(
        sa.select(e.id).where(
            e.application == seen.application, e.idempotency_key == tick_key(seen.id, tick)
        )
    ).first()
    return found is not None


def _runnable_problem(conn: sa.Connection, seen: Schedule) -> str | None:
    """Why the schedule's job cannot be enqueued now (its definition or queue is gone)."""
    defined = conn.execute(
        sa.select(job_definitions.c.id)
        .join(schedules, schedules.c.app_id == job_definitions.c.app_id)
        .where(schedules.c.id == seen.id, job_definitions.c.job == seen.job)
    ).first()
    if defined is None:
        return f"job {seen.application}/{seen.job} is not defined"
    if (
        conn.execute(sa.select(job_queues.c.id).where(job_queues.c.name == seen.queue)).first()
        is None
    ):
        return f"job queue {seen.queue!r} does not exist"
    return None


def _query() -> sa.Select[Any]:
    return sa.select(*_COLUMNS).join(apps, apps.c.id == schedules.c.app_id)


def _row(conn: sa.Connection, name: str) -> sa.RowMapping:
    row = conn.execute(_query().where(schedules.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"schedule {name!r} does not exist")
    return row


def _schedule(row: Mapping[Any, Any]) -> Schedule:
    return Schedule(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        application=row["application"],
        job=row["job"],
        queue=row["queue"],
        message=row["message"],
        cron=row["cron"],
        timezone=row["timezone"],
        missed_ticks=MissedTicks(row["missed_ticks"]),
        catch_up_limit=row["catch_up_limit"],
        paused=bool(row["paused"]),
        next_tick=row["next_tick"],
        last_tick=row["last_tick"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
