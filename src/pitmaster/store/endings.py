"""Endings: the attempts that run, how each ended (once), its output, and stops asked of it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from pitmaster.models import STOP_GRACE_SECONDS, AttemptState, Outcome, Output, RunningAttempt
from pitmaster.store import lifecycle, wakeups
from pitmaster.store.database import Database
from pitmaster.store.schema import attempts, job_definitions, job_executions


class Endings:
    """The poller's and watcher's queries: what runs, recording endings, output and stops."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def running_attempts(self, engine_id: str) -> list[RunningAttempt]:
        """The attempts whose containers live on this engine and have not been recorded."""
        return self._running_attempts(attempts.c.engine_id == engine_id)

    def running_attempt(self, container_id: str) -> RunningAttempt | None:
        """The running attempt of this container, if it is one and is not yet recorded."""
        found = self._running_attempts(attempts.c.container_id == container_id)
        return found[0] if found else None

    def _running_attempts(self, where: sa.ColumnElement[bool]) -> list[RunningAttempt]:
        query = (
            sa.select(
                attempts.c.id,
                attempts.c.execution_id,
                attempts.c.container_id,
                attempts.c.started_at,
                attempts.c.stop_reason,
                attempts.c.stop_signalled_at,
                job_executions.c.message_id,
                job_definitions.c.timeout_seconds,
                job_definitions.c.stop_grace_seconds,
            )
            .join(job_executions, job_executions.c.id == attempts.c.execution_id)
            .outerjoin(
                job_definitions,
                sa.and_(
                    job_definitions.c.app_id == job_executions.c.app_id,
                    job_definitions.c.job == job_executions.c.job,
                ),
            )
            .where(attempts.c.state == AttemptState.RUNNING.value, where)
        )
        with self._db.reading() as conn:
            rows = conn.execute(query).all()
        return [
            RunningAttempt(
                attempt_id=row.id,
                execution_id=row.execution_id,
                message_id=row.message_id,
                container_id=row.container_id,
                started_at=row.started_at,
                timeout_seconds=row.timeout_seconds,
                stop_grace_seconds=(
                    row.stop_grace_seconds
                    if row.stop_grace_seconds is not None
                    else STOP_GRACE_SECONDS
                ),
                stop_reason=row.stop_reason,
                stop_signalled_at=row.stop_signalled_at,
            )
            for row in rows
        ]

    def record_outcome(
        self, attempt_id: int, outcome: Outcome, *, output_pending: bool = False
    ) -> bool:
        """Record how an attempt ended, once: True only for the caller that recorded it.

        A retry the job's policy calls for is scheduled in the same transaction.
        With ``output_pending`` the output follows, through ``record_output``.
        """
        with self._db.writing() as conn:
            recorded = lifecycle.record_outcome(
                conn, self._db.now(), attempt_id, outcome, output_pending
            )
            if recorded:
                wakeups.notify_work(conn)  # a slot is free, or a retry is queued
        return recorded

    def record_output(self, attempt_id: int, output: Output) -> bool:
        """Store the output (and Docker's times) of an attempt ended from its exit event, once."""
        with self._db.writing() as conn:
            return lifecycle.record_output(conn, self._db.now(), attempt_id, output)

    def awaiting_output(self, engine_id: str, recorded_before: datetime) -> list[tuple[int, str]]:
        """(attempt id, container id) of ended attempts on this engine whose output is unread."""
        a = attempts.c
        query = sa.select(a.id, a.container_id).where(
            a.output_pending.is_(True),
            a.engine_id == engine_id,
            a.recorded_at < recorded_before,
        )
        with self._db.reading() as conn:
            return [(row.id, row.container_id) for row in conn.execute(query)]

    def request_stop(self, attempt_id: int, reason: str) -> bool:
        with self._db.writing() as conn:
            return lifecycle.request_stop(conn, self._db.now(), attempt_id, reason)

    def mark_stop_signalled(self, attempt_id: int) -> None:
        with self._db.writing() as conn:
            lifecycle.mark_stop_signalled(conn, self._db.now(), attempt_id)
