"""Enqueue many messages in one transaction: all are stored, or none is.

Statements run per batch, not per message: the targets are checked once per
distinct (app, job, queue), the executions and their first attempts are
inserted with one multi-row INSERT each, and one UPDATE makes those attempts
current. Idempotency keys are looked up before inserting, so that an item
repeating an earlier request returns that execution instead of failing the
batch; a key taken between the look-up and the insert makes the caller try
the whole batch again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pitmaster.errors import Conflict, NotFound
from pitmaster.models import DEFAULT_PRIORITY, AttemptState, Status
from pitmaster.store import lifecycle
from pitmaster.store.schema import apps, attempts, job_definitions, job_executions, job_queues


@dataclass(frozen=True)
class BatchItem:
    """One message of a batch, checked and scheduled (``run_after``) by the caller."""

    application: str
    job: str
    queue: str
    message: Any
    run_after: datetime
    idempotency_key: str | None
    request_hash: str | None
    priority: int | None  # None: the job definition's


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What the answer to a batch says of each item's execution."""

    id: int
    message_id: str
    status: Status


def item_name(index: int) -> str:
    return f"items[{index}]"


def check_targets(
    conn: sa.Connection, items: list[BatchItem], expected_app_id: int | None
) -> tuple[dict[str, int], dict[tuple[str, str], int | None]]:
    """Each application's id, and each job's default priority by (app, job), once every item's
    app, job and queue exist; else NotFound naming the first item that lacks one."""
    app_ids: dict[str, int] = {}
    job_priorities: dict[tuple[str, str], int | None] = {}
    checked: set[tuple[str, str, str]] = set()
    for index, item in enumerate(items):
        target = (item.application, item.job, item.queue)
        if target in checked:
            continue
        app_id, job_id, queue_id, job_priority = conn.execute(
            _TARGET, {"application": item.application, "job": item.job, "queue": item.queue}
        ).one()
        name = item_name(index)
        if app_id is None or (expected_app_id is not None and app_id != expected_app_id):
            raise NotFound(f"{name}: application {item.application!r} does not exist")
        if job_id is None:
            raise NotFound(
                f"{name}: job {item.job!r} is not defined for application {item.application!r}"
            )
        if queue_id is None:
            raise NotFound(f"{name}: job queue {item.queue!r} does not exist")
        app_ids[item.application] = int(app_id)
        job_priorities[(item.application, item.job)] = job_priority
        checked.add(target)
    return app_ids, job_priorities


def earlier(conn: sa.Connection, items: list[BatchItem]) -> dict[tuple[str, str], sa.RowMapping]:
    """The executions earlier requests made with the items' idempotency keys, by (app, key)."""
    keyed = {(i.application, i.idempotency_key) for i in items if i.idempotency_key is not None}
    found: dict[tuple[str, str], sa.RowMapping] = {}
    for application in {app for app, _ in keyed}:
        keys = [key for app, key in keyed if app == application]
        rows = conn.execute(
            sa.select(job_executions).where(
                job_executions.c.application == application,
                job_executions.c.idempotency_key.in_(keys),
            )
        ).mappings()
        for row in rows:
            found[(application, row["idempotency_key"])] = row
    return found


def insert(
    conn: sa.Connection, now: datetime, items: list[BatchItem], expected_app_id: int | None
) -> list[Enqueued]:
    """Store the batch in ``conn``'s transaction; the execution of each item, in order."""
    app_ids, job_priorities = check_targets(conn, items, expected_app_id)
    replayed = earlier(conn, items)
    results: list[sa.RowMapping | None] = [None] * len(items)
    # The first item with a key makes its execution; later ones with that key replay it.
    makers: dict[tuple[str, str], int] = {}
    new: list[int] = []
    for index, item in enumerate(items):
        if item.idempotency_key is None:
            new.append(index)
            continue
        key = (item.application, item.idempotency_key)
        before = replayed.get(key)
        if before is not None:
            _same_request(index, item, before["request_hash"], f"execution {before['message_id']}")
            if expected_app_id is not None and before["app_id"] != expected_app_id:
                raise NotFound(
                    f"{item_name(index)}: application {item.application!r} does not exist"
                )
            results[index] = before
        elif key in makers:
            _same_request(index, item, items[makers[key]].request_hash, item_name(makers[key]))
        else:
            makers[key] = index
            new.append(index)
    rows = [
        {
            "message_id": lifecycle.new_message_id(),
            "application": items[i].application,
            "app_id": app_ids[items[i].application],
            "job": items[i].job,
            "queue": items[i].queue,
            "message": items[i].message,
            "status": Status.PENDING.value,
            "runnable": True,
            "run_after": items[i].run_after,
            "priority": _priority(items[i], job_priorities),
            "idempotency_key": items[i].idempotency_key,
            "request_hash": items[i].request_hash,
            "created_at": now,
            "updated_at": now,
        }
        for i in new
    ]
    if rows:
        # Matched by message_id: asking the database to keep the order would make
        # SQLAlchemy insert one row per statement where it cannot tell the order.
        inserted = conn.execute(_INSERT_EXECUTIONS, rows).mappings().all()
        by_message_id = {row["message_id"]: row for row in inserted}
        for index, row in zip(new, rows, strict=True):
            results[index] = by_message_id[row["message_id"]]
        conn.execute(
            attempts.insert(),
            [
                {
                    "execution_id": row["id"],
                    "number": 0,
                    "message_id": row["message_id"],
                    "state": AttemptState.QUEUED.value,
                    "run_after": row["run_after"],
                    "created_at": now,
                    "updated_at": now,
                }
                for row in inserted
            ],
        )
        conn.execute(_MAKE_CURRENT, {"ids": [row["id"] for row in inserted]})
    for index, item in enumerate(items):  # a replay within the batch: its maker's execution
        if results[index] is None and item.idempotency_key is not None:
            results[index] = results[makers[(item.application, item.idempotency_key)]]
    return [
        Enqueued(row["id"], row["message_id"], Status(row["status"]))
        for row in results
        if row is not None
    ]


def _priority(item: BatchItem, job_priorities: dict[tuple[str, str], int | None]) -> int:
    """The item's priority, else its job definition's, else the default."""
    for priority in (item.priority, job_priorities[(item.application, item.job)]):
        if priority is not None:
            return priority
    return DEFAULT_PRIORITY


def _same_request(index: int, item: BatchItem, request_hash: str | None, first: str) -> None:
    if request_hash != item.request_hash:
        raise Conflict(
            f"{item_name(index)}: idempotency key {item.idempotency_key!r} was used for a "
            f"different request ({first})"
        )


_TARGET = sa.select(
    sa.select(apps.c.id).where(apps.c.name == sa.bindparam("application")).scalar_subquery(),
    sa.select(job_definitions.c.id)
    .join(apps, apps.c.id == job_definitions.c.app_id)
    .where(apps.c.name == sa.bindparam("application"), job_definitions.c.job == sa.bindparam("job"))
    .scalar_subquery(),
    sa.select(job_queues.c.id).where(job_queues.c.name == sa.bindparam("queue")).scalar_subquery(),
    sa.select(job_definitions.c.priority)
    .join(apps, apps.c.id == job_definitions.c.app_id)
    .where(apps.c.name == sa.bindparam("application"), job_definitions.c.job == sa.bindparam("job"))
    .scalar_subquery(),
)
# Only what the answer needs: reading whole rows back cost a quarter of a batch.
_INSERT_EXECUTIONS = job_executions.insert().returning(
    job_executions.c.id,
    job_executions.c.message_id,
    job_executions.c.status,
    job_executions.c.run_after,
)
_MAKE_CURRENT = (
    job_executions.update()
    .where(job_executions.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(
        current_attempt_id=sa.select(attempts.c.id)
        .where(attempts.c.execution_id == job_executions.c.id, attempts.c.number == 0)
        .scalar_subquery()
    )
)
