"""Pausing queues and apps: none of their work starts until resumed; running work goes on.

A pause is a column on the queue's or the app's row, so it is durable and every
worker sees it at its next claim (``limits.read_limits``); enqueueing is untouched.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from pitmaster.errors import NotFound
from pitmaster.models import App, JobQueue
from pitmaster.store import wakeups
from pitmaster.store.database import Database
from pitmaster.store.schema import apps, job_queues

logger = logging.getLogger(__name__)


class Pausing:
    """Pause and resume a queue or an app."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def pause_queue(self, name: str, reason: str = "") -> JobQueue:
        """Start nothing more from this queue; pausing a paused queue changes only its reason."""
        return JobQueue.from_row(self._set(job_queues, "job queue", name, reason))

    def resume_queue(self, name: str) -> JobQueue:
        return JobQueue.from_row(self._set(job_queues, "job queue", name, None))

    def pause_app(self, name: str, reason: str = "") -> App:
        """Start nothing more of this app's, from any queue."""
        return App.from_row(self._set(apps, "app", name, reason))

    def resume_app(self, name: str) -> App:
        return App.from_row(self._set(apps, "app", name, None))

    def _set(self, table: sa.Table, kind: str, name: str, reason: str | None) -> sa.RowMapping:
        """Pause (``reason`` a string) or resume (None); the row as it is now."""
        now = self._db.now()
        paused = reason is not None
        with self._db.writing() as conn:
            row = (
                conn.execute(
                    table.update()
                    .where(table.c.name == name)
                    .values(
                        # A second pause keeps the time of the first: paused since then.
                        paused_at=sa.func.coalesce(table.c.paused_at, now) if paused else None,
                        pause_reason=reason,
                        updated_at=now,
                    )
                    .returning(table)
                )
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound(f"{kind} {name!r} does not exist")
            if not paused:
                wakeups.notify_work(conn)  # its work may start now
        logger.info("%s %s %s", "paused" if paused else "resumed", kind, name)
        return row
