"""Retention: deleting ended executions, with their attempts and output, once they are old.

An execution that ended (success, failed, error, cancelled) and has not
changed for the retention period goes, in batches of a short transaction
each, so that a large backlog never holds locks for long. A retry by hand
changes it (``updated_at``), which restarts its clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa

from pitmaster.models import TERMINAL_STATUSES, status_values
from pitmaster.store.database import Database
from pitmaster.store.schema import attempts, job_executions

BATCH_SIZE = 1000


class Retention:
    """The queries of the retention setting (``Store.retention``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def delete_ended(
        self,
        older_than: timedelta,
        batch_size: int = BATCH_SIZE,
        stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Delete executions ended and unchanged for ``older_than``; how many went.

        Batches of ``batch_size``, each its own transaction, until none is left
        or ``stop()`` says so.
        """
        cutoff = self._db.now() - older_than
        e = job_executions.c
        oldest = (
            sa.select(e.id)
            .where(
                e.status.in_(status_values(TERMINAL_STATUSES)),
                e.updated_at < cutoff,
                e.output_pending.is_(False),
            )
            .limit(batch_size)
        )
        deleted = 0
        while not stop():
            with self._db.writing() as conn:
                ids = list(conn.execute(oldest).scalars())
                if ids:
                    conn.execute(attempts.delete().where(attempts.c.execution_id.in_(ids)))
                    conn.execute(job_executions.delete().where(e.id.in_(ids)))
            deleted += len(ids)
            if len(ids) < batch_size:
                break
        return deleted
