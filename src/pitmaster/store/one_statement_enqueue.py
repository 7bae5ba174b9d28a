"""Enqueue on PostgreSQL in one statement, one round trip, committed as it returns.

The general path (``Executions.enqueue``) checks the target, inserts the
execution and its first attempt, makes that attempt current and notifies
workers: five statements, and a BEGIN and a COMMIT, each a round trip to the
database. Here data-modifying CTEs do all but the notification in one statement, run in
autocommit: PostgreSQL commits it before answering, so a returned row is
durable exactly as after the general path's COMMIT. The attempt's id is drawn
from its sequence up front, so the execution is inserted with it as its
current attempt. Nothing inserted means the target check failed: the caller
explains why with the general path's query. Workers are notified after the
commit, by ``wakeups.WorkNotifier``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from pitmaster.models import DEFAULT_PRIORITY, AttemptState, Status
from pitmaster.store.schema import (
    Id,
    UTCDateTime,
    apps,
    attempts,
    job_definitions,
    job_executions,
    job_queues,
)


def _bind(name: str, column: sa.Column[Any]) -> sa.BindParameter[Any]:
    return sa.bindparam(name, type_=column.type)


def _statement() -> sa.Select[Any]:
    e = job_executions.c
    expected = sa.bindparam("expected_app_id", type_=Id)
    target = (
        sa.select(apps.c.id.label("app_id"), job_definitions.c.priority.label("job_priority"))
        .join(job_definitions, job_definitions.c.app_id == apps.c.id)
        .where(
            apps.c.name == _bind("application", e.application),
            job_definitions.c.job == _bind("job", e.job),
            sa.or_(expected.is_(None), apps.c.id == expected),
        )
        .cte("target")
    )
    now = sa.bindparam("now", type_=UTCDateTime())
    values = {
        "message_id": _bind("message_id", e.message_id),
        "application": _bind("application", e.application),
        "app_id": target.c.app_id,
        "job": _bind("job", e.job),
        "queue": _bind("queue", e.queue),
        "message": _bind("message", e.message),
        "status": sa.literal(Status.PENDING.value),
        "runnable": sa.true(),
        "run_after": _bind("run_after", e.run_after),
        # The request's priority, else the job definition's, else the default.
        "priority": sa.func.coalesce(
            _bind("priority", e.priority), target.c.job_priority, DEFAULT_PRIORITY
        ),
        "idempotency_key": _bind("idempotency_key", e.idempotency_key),
        "request_hash": _bind("request_hash", e.request_hash),
        "current_attempt_id": sa.func.nextval(sa.func.pg_get_serial_sequence("attempts", "id")),
        "created_at": now,
        "updated_at": now,
    }
    queue_exists = sa.exists().where(job_queues.c.name == _bind("queue", e.queue))
    execution = (
        job_executions.insert()
        .from_select(list(values), sa.select(*values.values()).where(queue_exists))
        .returning(job_executions)
        .cte("execution")
    )
    a = execution.c
    attempt = (
        attempts.insert()
        .from_select(
            [
                "id",
                "execution_id",
                "number",
                "message_id",
                "state",
                "run_after",
                "created_at",
                "updated_at",
            ],
            sa.select(
                a.current_attempt_id,
                a.id,
                sa.literal(0),
                a.message_id,
                sa.literal(AttemptState.QUEUED.value),
                a.run_after,
                a.created_at,
                a.updated_at,
            ),
        )
        .cte("attempt")
    )
    return sa.select(execution).add_cte(attempt)


ENQUEUE = _statement()


def enqueue(conn: sa.Connection, values: dict[str, Any]) -> sa.RowMapping | None:
    """The inserted execution; None when the app (as expected), job or queue is missing."""
    return conn.execute(ENQUEUE, values).mappings().first()
