"""The console's read-only summaries: counts per app and queue, executions per hour.

Every query here aggregates in the database (GROUP BY an hour bucket), so a
page costs the same with a thousand executions or millions of them; only the
buckets travel to Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from pitmaster.models import (
    MAX_PAGE_SIZE,
    TERMINAL_STATUSES,
    AppSummary,
    Execution,
    HourlyBucket,
    QueueSummary,
    Status,
    status_values,
)
from pitmaster.store.catalog import Catalog
from pitmaster.store.database import Database
from pitmaster.store.schema import apps, job_definitions, job_executions

# A retry waiting for its turn is work waiting, like a fresh pending execution.
_WAITING = (Status.PENDING.value, Status.RETRIED.value)
# A queue's ready, delayed and running executions, and when its oldest ready one became due.
_QueueCounts = tuple[int, int, int, datetime | None]


def _hour_of(column: Any, dialect: str) -> Any:
    """An hour bucket as text 'YYYY-MM-DD HH', in UTC, whatever the backend."""
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD HH24")
    return sa.func.strftime("%Y-%m-%d %H", column)


def _seconds_between(start: Any, end: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return sa.extract("epoch", end - start)
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0


def _parse_hour(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H").replace(tzinfo=UTC)


def _aware(value: Any) -> datetime | None:
    # Aggregates (MIN) bypass the column type, so SQLite hands back text or naive times.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class RecentExecution:
    """What the monitor's tables need of one recent execution."""

    application: str
    job: str
    queue: str
    status: Status
    created_at: datetime
    run_after: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _next_up(conn: sa.Connection, queue: str, now: datetime, *, ready: bool, delayed: bool) -> Any:
    """The waiting execution a runner would take next from ``queue``: due work first,
    then as a claim orders it (leaving out turns and aging).

    Due and delayed work are asked for apart (only where the counts say there is
    some), each read in the order of the claim's index so neither sorts the backlog.
    The CASE, not a plain comparison, keeps the planner off the run_after index,
    which would sort every waiting row of the queue.
    """
    e = job_executions.c
    is_delayed = sa.case((e.run_after <= now, 0), else_=1)
    for wanted, present in ((0, ready), (1, delayed)):
        if not present:
            continue
        row = (
            conn.execute(
                sa.select(job_executions)
                .where(e.runnable.is_(True), e.queue == queue, is_delayed == wanted)
                .order_by(e.priority.desc(), e.run_after, e.id)
                .limit(1)
            )
            .mappings()
            .first()
        )
        if row is not None:
            return row
    return None


class Stats:
    """The console's summaries, aggregated in the database."""

    def recent_executions(self, since: datetime, limit: int) -> list[RecentExecution]:
        """The newest executions enqueued since ``since``, at most ``limit`` of them.

        Read newest first by id and cut at ``limit``, so the monitor costs the same
        whatever the size of the history (a busier day is sampled by its newest part).
        """
        e = job_executions.c
        query = (
            sa.select(
                e.application,
                e.job,
                e.queue,
                e.status,
                e.created_at,
                e.run_after,
                e.started_at,
                e.finished_at,
            )
            .order_by(e.id.desc())
            .limit(limit)
        )
        # No WHERE on created_at (it has no index): the newest rows by id, then the window.
        with self._db.reading() as conn:
            rows = [
                row for row in conn.execute(query) if (_aware(row.created_at) or since) >= since
            ]
        return [
            RecentExecution(
                application=row.application,
                job=row.job,
                queue=row.queue,
                status=Status(row.status),
                created_at=_aware(row.created_at) or since,
                run_after=_aware(row.run_after) or since,
                started_at=_aware(row.started_at),
                finished_at=_aware(row.finished_at),
            )
            for row in rows
        ]

    def __init__(self, db: Database, catalog: Catalog) -> None:
        self._db = db
        self._catalog = catalog

    def app_summaries(
        self, since: datetime, limit: int = MAX_PAGE_SIZE, after: str | None = None
    ) -> list[AppSummary]:
        """A page of apps (``Store.list_apps``) with their job counts and running executions.

        Each also has its failures since ``since``.
        """
        e = job_executions.c
        page = self._catalog.list_apps(limit, after)
        names = [app.name for app in page]
        ids = [app.id for app in page]
        name_of = {app.id: app.name for app in page}
        with self._db.reading() as conn:
            jobs: dict[str, int] = dict(
                conn.execute(
                    sa.select(apps.c.name, sa.func.count(job_definitions.c.id))
                    .select_from(
                        apps.outerjoin(job_definitions, job_definitions.c.app_id == apps.c.id)
                    )
                    .where(apps.c.name.in_(names))
                    .group_by(apps.c.name)
                ).all()
            )
            # Counted by the app's id: a deleted app of the same name is not this one.
            running: dict[str, int] = {
                name_of[app_id]: count
                for app_id, count in conn.execute(
                    sa.select(e.app_id, sa.func.count())
                    .where(e.status == Status.RUNNING.value, e.app_id.in_(ids))
                    .group_by(e.app_id)
                ).all()
            }
            failed: dict[str, int] = {
                name_of[app_id]: count
                for app_id, count in conn.execute(
                    sa.select(e.app_id, sa.func.count())
                    .where(
                        e.status == Status.FAILED.value,
                        e.finished_at >= since,
                        e.app_id.in_(ids),
                    )
                    .group_by(e.app_id)
                ).all()
            }
        return [
            AppSummary(
                app=app,
                jobs=jobs.get(app.name, 0),
                running=running.get(app.name, 0),
                failed_recently=failed.get(app.name, 0),
            )
            for app in page
        ]

    def failures_since(self, since: datetime, cap: int) -> int:
        """Executions that ended failed or error since ``since`` (the home page's totals),
        counted up to ``cap`` + 1: above ``cap`` means "more".

        Read as a range of the (status, finished_at) index and cut there, so the home
        page's cost stays flat however many failures history holds.
        """
        e = job_executions.c
        failed = (
            sa.select(e.id)
            .where(
                e.status.in_([Status.FAILED.value, Status.ERROR.value]),
                e.finished_at >= since,
            )
            .limit(cap + 1)
            .subquery()
        )
        query = sa.select(sa.func.count()).select_from(failed)
        with self._db.reading() as conn:
            count: int = conn.execute(query).scalar_one()
        return count

    def queue_summaries(
        self, limit: int = MAX_PAGE_SIZE, after: str | None = None, *, only: str | None = None
    ) -> list[QueueSummary]:
        """A page of queues (``Store.list_queues``) with their waiting and running work,
        or just the queue named ``only`` (NotFound if there is none).

        Waiting work is counted apart as ready (due now) and delayed (due later), and
        each queue has the execution a runner would take next.
        """
        e = job_executions.c
        page = [self._catalog.get_queue(only)] if only else self._catalog.list_queues(limit, after)
        names = [queue.name for queue in page]
        now = self._db.now()
        waiting = e.status.in_(_WAITING)
        ready = sa.and_(waiting, e.run_after <= now)
        with self._db.reading() as conn:
            rows = conn.execute(
                sa.select(
                    e.queue,
                    sa.func.sum(sa.case((ready, 1), else_=0)),
                    sa.func.sum(sa.case((sa.and_(waiting, e.run_after > now), 1), else_=0)),
                    sa.func.sum(sa.case((e.status == Status.RUNNING.value, 1), else_=0)),
                    sa.func.min(sa.case((ready, e.run_after))),
                )
                .where(e.status.in_([*_WAITING, Status.RUNNING.value]), e.queue.in_(names))
                .group_by(e.queue)
            ).all()
            counts: dict[str, _QueueCounts] = {
                queue: (int(ready_count), int(delayed), int(running), _aware(first))
                for queue, ready_count, delayed, running, first in rows
            }
            # The next execution a runner would take from each queue that has waiting work.
            next_up: dict[str, Execution] = {}
            for queue, (ready_count, delayed, _, _) in counts.items():
                if ready_count + delayed == 0:
                    continue
                row = _next_up(conn, queue, now, ready=ready_count > 0, delayed=delayed > 0)
                if row is not None:
                    next_up[queue] = Execution.from_row(dict(row))
        nothing: _QueueCounts = (0, 0, 0, None)
        return [
            QueueSummary(queue, *counts.get(queue.name, nothing), next_up.get(queue.name))
            for queue in page
        ]

    def endings_per_hour(self, app_id: int, job: str, since: datetime) -> list[HourlyBucket]:
        """A job's ended executions per hour they ended in, by status, with average durations.

        The app is given by its id: a deleted app's executions of the same name are not its own.
        """
        e = job_executions.c
        dialect = self._db.dialect
        hour = _hour_of(e.finished_at, dialect).label("hour")
        duration = _seconds_between(e.started_at, e.finished_at, dialect)
        query = (
            sa.select(hour, e.status, sa.func.count(), sa.func.avg(duration))
            .where(
                e.app_id == app_id,
                e.job == job,
                e.finished_at >= since,
                e.status.in_(status_values(TERMINAL_STATUSES)),
            )
            .group_by(hour, e.status)
        )
        with self._db.reading() as conn:
            rows = conn.execute(query).all()
        return [
            HourlyBucket(
                hour=_parse_hour(text),
                key=status,
                count=count,
                average_seconds=float(average) if average is not None else None,
            )
            for text, status, count, average in rows
            if text is not None
        ]

    def enqueued_per_hour_by_job(self, since: datetime) -> list[HourlyBucket]:
        """Executions enqueued per hour, keyed ``app/job``."""
        e = job_executions.c
        hour = _hour_of(e.created_at, self._db.dialect).label("hour")
        query = (
            sa.select(hour, e.application, e.job, sa.func.count())
            .where(e.created_at >= since)
            .group_by(hour, e.application, e.job)
        )
        with self._db.reading() as conn:
            rows = conn.execute(query).all()
        return [
            HourlyBucket(
                hour=_parse_hour(text), key=f"{app}/{job}", count=count, average_seconds=None
            )
            for text, app, job, count in rows
            if text is not None
        ]
