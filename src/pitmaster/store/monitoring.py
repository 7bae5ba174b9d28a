"""Reading the queue's state for people and metrics: backlog, heartbeats, why work waits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from pitmaster.models import MAX_PAGE_SIZE, AttemptState, Backlog, Execution, Status, WorkerInfo
from pitmaster.store.database import Database, page_size
from pitmaster.store.engines import engine_reached
from pitmaster.store.limits import count_in_flight, full_reason, paused_reason, read_limits
from pitmaster.store.schema import attempts, job_executions, workers


def backlog(conn: sa.Connection, now: datetime) -> Backlog:
    e = job_executions.c
    waiting = conn.execute(
        sa.select(e.queue, e.application, sa.func.count(), sa.func.min(e.run_after))
        .where(e.runnable.is_(True))
        .group_by(e.queue, e.application)
    ).all()
    in_flight = count_in_flight(conn)
    pending_by_queue: dict[str, int] = {}
    pending_by_app: dict[str, int] = {}
    oldest: dict[str, float] = {}
    for queue, app, count, earliest in waiting:
        pending_by_queue[queue] = pending_by_queue.get(queue, 0) + count
        pending_by_app[app] = pending_by_app.get(app, 0) + count
        age = (now - _as_utc(earliest)).total_seconds()
        if age > 0:
            oldest[queue] = max(oldest.get(queue, 0.0), age)
    return Backlog(
        pending_by_queue=pending_by_queue,
        pending_by_app=pending_by_app,
        running_by_queue=dict(in_flight.by_queue),
        running_by_app=dict(in_flight.by_app),
        oldest_pending_seconds=oldest,
    )


def _as_utc(value: datetime | str) -> datetime:
    """An aggregate (min) bypasses the column type on SQLite and comes back as text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def heartbeat(  # noqa: PLR0913, PLR0917 -- one parameter per column of the worker row
    conn: sa.Connection,
    now: datetime,
    worker_id: str,
    host: str,
    engine: str | None,
    queues: Sequence[str] | None,
    unhealthy_reason: str | None = None,
) -> None:
    values = {
        "host": host,
        "engine": engine,
        "queues": list(queues) if queues is not None else None,
        "last_seen_at": now,
        "healthy": unhealthy_reason is None,
        "unhealthy_reason": unhealthy_reason,
    }
    updated = conn.execute(
        workers.update().where(workers.c.id == worker_id).values(**values)
    ).rowcount
    if updated == 0:
        conn.execute(workers.insert().values(id=worker_id, started_at=now, **values))
    conn.execute(workers.delete().where(workers.c.last_seen_at < now - timedelta(days=1)))


def remove_worker(conn: sa.Connection, worker_id: str) -> None:
    conn.execute(workers.delete().where(workers.c.id == worker_id))


def list_workers(
    conn: sa.Connection, limit: int | None = None, after: str | None = None
) -> list[WorkerInfo]:
    running = (
        sa.select(sa.func.count())
        .select_from(attempts)
        .where(
            attempts.c.worker_id == workers.c.id,
            attempts.c.state == AttemptState.RUNNING.value,
        )
        .scalar_subquery()
    )
    query = sa.select(workers, running.label("running")).order_by(workers.c.id).limit(limit)
    if after is not None:
        query = query.where(workers.c.id > after)
    return [WorkerInfo.from_row(dict(row)) for row in conn.execute(query).mappings().all()]


def pending_reason(
    conn: sa.Connection,
    now: datetime,
    execution: Execution,
    global_limit: int | None,
    worker_alive_seconds: float,
    *,
    name_workers: bool = True,
) -> str | None:
    """Why it waits, in words; workers by id only when ``name_workers`` (for admins)."""
    claim = conn.execute(
        sa.select(
            job_executions.c.runnable,
            job_executions.c.claimed_by,
            job_executions.c.lease_expires_at,
            job_executions.c.current_attempt_id,
        ).where(job_executions.c.id == execution.id)
    ).one()
    if not claim.runnable:
        return None
    limits = read_limits(conn, global_limit)
    return (
        _schedule_reason(now, execution)
        or _claim_reason(conn, now, claim, name_workers)
        or paused_reason(limits, execution.queue, execution.application)
        or full_reason(limits, count_in_flight(conn), execution.queue, execution.application)
        or _serving_reason(conn, now, execution, worker_alive_seconds)
    )


def _schedule_reason(now: datetime, execution: Execution) -> str | None:
    """It is not due yet: a retry's backoff or a delayed enqueue."""
    if execution.run_after <= now:
        return None
    what = "retry" if execution.status is Status.RETRIED else "delayed"
    return f"{what} until {execution.run_after.isoformat()}"


def _claim_reason(
    conn: sa.Connection, now: datetime, claim: sa.Row[Any, Any, Any, Any], name_workers: bool
) -> str | None:
    """A worker has it: starting it now, or claimed and gone before starting it."""
    worker = f"worker {claim.claimed_by}" if name_workers else "a worker"
    if claim.lease_expires_at is not None and claim.lease_expires_at >= now:
        return f"being started by {worker}"
    if claim.claimed_by is None:
        return None
    engine = conn.execute(
        sa.select(attempts.c.engine_id).where(attempts.c.id == claim.current_attempt_id)
    ).scalar()
    where = f"on engine {engine} " if engine and name_workers else ""
    return f"{worker} claimed it but did not start it; the next free runner {where}takes it over"


def _serving_reason(
    conn: sa.Connection, now: datetime, execution: Execution, worker_alive_seconds: float
) -> str:
    """Nothing holds it back but a runner: none serves its queue, or all are busy."""
    alive = [
        worker
        for worker in list_workers(conn)
        if worker.last_seen_at >= now - timedelta(seconds=worker_alive_seconds)
    ]
    if not any(worker.serves(execution.queue) for worker in alive):
        return f"no worker is serving queue {execution.queue!r}"
    return "waiting for a free runner; work of higher priority, then older work, goes first"


class Monitoring:
    """What waits and runs, the workers' heartbeats, and why a pending execution waits."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def backlog(self) -> Backlog:
        """What waits and what runs now, by queue and app (for metrics)."""
        with self._db.reading() as conn:
            return backlog(conn, self._db.now())

    # -- workers -------------------------------------------------------------------

    def heartbeat(
        self,
        worker_id: str,
        host: str,
        engine: str | None,
        queues: Sequence[str] | None,
        *,
        unhealthy_reason: str | None = None,
        engine_description: str | None = None,
    ) -> None:
        """Record that a worker is alive, and whether it is healthy; forget workers gone a day.

        ``engine_description`` set: the worker reached its engine just now.
        """
        now = self._db.now()
        for attempt in range(2):
            try:
                with self._db.writing() as conn:
                    heartbeat(conn, now, worker_id, host, engine, queues, unhealthy_reason)
                    if engine is not None and engine_description is not None:
                        engine_reached(conn, now, engine, engine_description)
                return
            except sa.exc.IntegrityError:
                # A new worker's first beats (its identity check's and its heartbeat
                # loop's) both found no row and both inserted: update the one that won.
                if attempt:
                    raise

    def remove_worker(self, worker_id: str) -> None:
        with self._db.writing() as conn:
            remove_worker(conn, worker_id)

    def list_workers(
        self, limit: int = MAX_PAGE_SIZE, after: str | None = None
    ) -> list[WorkerInfo]:
        """Workers by id, at most ``limit``, from the one after ``after`` on."""
        with self._db.reading() as conn:
            return list_workers(conn, page_size(limit), after)

    def pending_reason(
        self,
        execution: Execution,
        global_limit: int | None,
        worker_alive_seconds: float,
        name_workers: bool = True,
    ) -> str | None:
        """Why a pending execution has not started yet, in words; None if it is not pending."""
        with self._db.reading() as conn:
            return pending_reason(
                conn,
                self._db.now(),
                execution,
                global_limit,
                worker_alive_seconds,
                name_workers=name_workers,
            )
