"""Executions: enqueueing them, reading them and their attempts, cancelling and retrying by hand."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from pitmaster.errors import Conflict, InvalidInput, NotFound, StoreError
from pitmaster.models import (
    BULK_RETRY_BATCH,
    BULK_RETRY_LIMIT,
    DEFAULT_PRIORITY,
    MAX_DELAY_SECONDS,
    MAX_PRIORITY,
    MIN_PRIORITY,
    RETRYABLE_STATUSES,
    Attempt,
    BulkRetry,
    Execution,
    ExecutionFilter,
    ExecutionPage,
    Status,
    status_values,
)
from pitmaster.store import batch_enqueue, lifecycle, one_statement_enqueue, wakeups
from pitmaster.store.database import Database, page_size
from pitmaster.store.schema import apps, attempts, job_definitions, job_executions, job_queues

_MAX_ID = 2**63 - 1

# Enqueue is the hot path: its statements are built once, not on every call.
# One round trip checks the app, the job and the queue.
_ENQUEUE_TARGET = sa.select(
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
_INSERT_EXECUTION = job_executions.insert().returning(job_executions)


class Executions:
    """The queries about executions as clients see them: enqueue, read, cancel, retry."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- enqueue -----------------------------------------------------------

    def enqueue(  # noqa: PLR0913, PLR0917 -- one parameter per field of an enqueue request
        self,
        application: str,
        job: str,
        queue: str,
        message: Any,
        delay_seconds: float = 0,
        idempotency_key: str | None = None,
        run_at: datetime | None = None,
        app_id: int | None = None,
        priority: int | None = None,
    ) -> Execution:
        """Store a new pending execution; it is durable once this returns.

        ``priority`` None takes the job definition's (or DEFAULT_PRIORITY).

        With an ``idempotency_key``, enqueueing the same request again returns
        the execution the first one made (a unique index decides, so even
        concurrent requests make one); the same key with another request is a
        Conflict. With ``app_id`` (an app token's app), the app of that name
        must be that very app, not one made again under its name.
        """
        _check_priority(priority)
        now = self._db.now()
        run_after, when = _schedule(now, delay_seconds, run_at)
        request_hash = _request_hash(application, job, queue, message, when, priority)
        try:
            if self._db.dialect == "postgresql":
                values = {
                    "message_id": lifecycle.new_message_id(),
                    "application": application,
                    "job": job,
                    "queue": queue,
                    "message": message,
                    "run_after": run_after,
                    "idempotency_key": idempotency_key,
                    "request_hash": request_hash if idempotency_key is not None else None,
                    "expected_app_id": app_id,
                    "priority": priority,
                    "now": now,
                }
                return self._enqueue_in_one_statement(values)
            with self._db.writing() as conn:
                found_app_id, job_priority = _check_enqueue_target(
                    conn, application, job, queue, app_id
                )
                chosen = next(
                    p for p in (priority, job_priority, DEFAULT_PRIORITY) if p is not None
                )
                inserted = insert_pending(
                    conn,
                    now,
                    PendingRow(
                        application, found_app_id, job, queue, message, run_after, priority=chosen
                    ),
                    idempotency_key=idempotency_key,
                    request_hash=request_hash if idempotency_key is not None else None,
                )
                wakeups.notify_work(conn)
        except sa.exc.IntegrityError as exc:
            if idempotency_key is None:
                raise StoreError(f"could not store the execution: {exc.orig}") from exc
            return self._replay(application, idempotency_key, request_hash, app_id)
        return Execution.from_row(inserted)

    def enqueue_batch(
        self, items: Sequence[BatchOrder], app_id: int | None = None
    ) -> list[batch_enqueue.Enqueued]:
        """Store every item's execution in one transaction, or none; in the items' order.

        Each item is checked as ``enqueue`` checks one; an error names the first
        bad item (``items[N]: ...``). An item with an idempotency key that an
        earlier request (or an earlier item) used for the same request gets that
        execution; used for another request, the batch is a Conflict.
        """
        now = self._db.now()
        checked = []
        for index, order in enumerate(items):
            try:
                _check_priority(order.priority)
                run_after, when = _schedule(now, order.delay_seconds, order.run_at)
            except InvalidInput as exc:
                raise InvalidInput(f"{batch_enqueue.item_name(index)}: {exc}") from exc
            request_hash = None
            if order.idempotency_key is not None:
                request_hash = _request_hash(
                    order.application, order.job, order.queue, order.message, when, order.priority
                )
            checked.append(
                batch_enqueue.BatchItem(
                    order.application,
                    order.job,
                    order.queue,
                    order.message,
                    run_after,
                    order.idempotency_key,
                    request_hash,
                    order.priority,
                )
            )
        for attempt in range(2):
            try:
                with self._db.writing() as conn:
                    rows = batch_enqueue.insert(conn, now, checked, app_id)
                break
            except sa.exc.IntegrityError as exc:
                # A key taken by a request that committed after our look-up: look again.
                if attempt == 1 or not any(o.idempotency_key for o in items):
                    raise StoreError(f"could not store the executions: {exc.orig}") from exc
        if self._db.dialect == "postgresql":
            self._db.work_notifier.soon()
        return rows

    def _enqueue_in_one_statement(self, values: dict[str, Any]) -> Execution:
        """PostgreSQL: ``one_statement_enqueue``'s single round trip, committed as it returns."""
        with self._db.autocommit() as conn:
            inserted = one_statement_enqueue.enqueue(conn, values)
        if inserted is not None:
            self._db.work_notifier.soon()
        else:  # say which of the app, the job and the queue is missing
            with self._db.reading() as conn:
                _check_enqueue_target(
                    conn,
                    values["application"],
                    values["job"],
                    values["queue"],
                    values["expected_app_id"],
                )
            raise Conflict("the app, job or queue changed while enqueueing; try again")
        return Execution.from_row(inserted)

    def _replay(
        self, application: str, idempotency_key: str, request_hash: str, app_id: int | None
    ) -> Execution:
        with self._db.reading() as conn:
            row = (
                conn.execute(
                    sa.select(job_executions).where(
                        job_executions.c.application == application,
                        job_executions.c.idempotency_key == idempotency_key,
                    )
                )
                .mappings()
                .one()
            )
        if app_id is not None and row["app_id"] != app_id:
            raise NotFound(f"application {application!r} does not exist")
        if row["request_hash"] != request_hash:
            raise Conflict(
                f"idempotency key {idempotency_key!r} was used for a different request "
                f"(execution {row['message_id']})"
            )
        return Execution.from_row(row)

    # -- reading -----------------------------------------------------------

    def get_execution(self, reference: str) -> Execution:
        """Find an execution by its message_id, or by its numeric id."""
        numeric = _is_number(reference)
        column = job_executions.c.id if numeric else job_executions.c.message_id
        key: int | str = int(reference) if numeric else reference
        if isinstance(key, int) and key > _MAX_ID:
            raise NotFound(f"job execution {reference!r} does not exist")
        query = sa.select(job_executions).where(column == key)
        if not numeric:  # a retry's own message_id finds its execution too
            by_attempt = sa.select(attempts.c.execution_id).where(attempts.c.message_id == key)
            query = sa.select(job_executions).where(
                sa.or_(column == key, job_executions.c.id.in_(by_attempt))
            )
        with self._db.reading() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"job execution {reference!r} does not exist")
        return Execution.from_row(row)

    def list_executions(
        self, where: ExecutionFilter, cursor: str | None = None, limit: int = 50
    ) -> ExecutionPage:
        """Newest first, paged by id so that deep pages cost what the first one does."""
        query = (
            sa.select(job_executions)
            .order_by(job_executions.c.id.desc())
            .limit(page_size(limit) + 1)
        )
        query = _filtered(query, where)
        if cursor is not None:
            if not _is_number(cursor) or int(cursor) > _MAX_ID:
                raise InvalidInput(f"cursor {cursor!r} is not one this API gave out")
            query = query.where(job_executions.c.id < int(cursor))
        with self._db.reading() as conn:
            rows = conn.execute(query).mappings().all()
        items = [Execution.from_row(row) for row in rows[:limit]]
        next_cursor = str(items[-1].id) if len(rows) > limit else None
        return ExecutionPage(items=items, next_cursor=next_cursor)

    def attempt_counts(self, execution_ids: list[int]) -> dict[int, int]:
        """How many attempts each of these executions has had (a page of a list at a time)."""
        if not execution_ids:
            return {}
        query = (
            sa.select(attempts.c.execution_id, sa.func.count())
            .where(attempts.c.execution_id.in_(execution_ids))
            .group_by(attempts.c.execution_id)
        )
        with self._db.reading() as conn:
            return {row[0]: row[1] for row in conn.execute(query)}

    def status_counts(self, where: ExecutionFilter, window: int) -> tuple[dict[Status, int], bool]:
        """How many of the newest ``window`` executions matching the filter (its own status
        aside) are in each status, and whether more than ``window`` match.

        One bounded read, newest first by id, so the answer costs the same however
        long the history is; past ``window`` the counts describe the newest part.
        """
        e = job_executions.c
        query: sa.Select[Any] = sa.select(e.status)
        newest = _filtered(query, replace(where, status=None)).order_by(e.id.desc())
        bounded = newest.limit(window + 1).subquery()
        with self._db.reading() as conn:
            rows = conn.execute(
                sa.select(bounded.c.status, sa.func.count()).group_by(bounded.c.status)
            ).all()
        counts = {Status(status): count for status, count in rows}
        more = sum(counts.values()) > window
        return counts, more

    def attempts_of(self, execution_id: int) -> list[Attempt]:
        with self._db.reading() as conn:
            rows = (
                conn.execute(
                    sa.select(attempts)
                    .where(attempts.c.execution_id == execution_id)
                    .order_by(attempts.c.number)
                )
                .mappings()
                .all()
            )
        return [Attempt.from_row(row) for row in rows]

    def attempt_of(self, execution_id: int, number: int) -> Attempt:
        """An execution's attempt by its number (0 the first run); NotFound if it has none."""
        with self._db.reading() as conn:
            row = (
                conn.execute(
                    sa.select(attempts).where(
                        attempts.c.execution_id == execution_id, attempts.c.number == number
                    )
                )
                .mappings()
                .one_or_none()
            )
        if row is None:
            raise NotFound(f"attempt {number} of this execution does not exist")
        return Attempt.from_row(row)

    # -- cancelling and retrying by hand -----------------------------------

    def cancel(self, reference: str) -> Execution:
        """Cancel an execution (see ``lifecycle.cancel``); returns it as it now is."""
        execution = self.get_execution(reference)
        with self._db.writing() as conn:
            lifecycle.cancel(conn, self._db.now(), execution.id)
        return self.get_execution(execution.message_id)

    def retry(self, reference: str, delay_seconds: float = 0) -> str:
        """Retry an execution that ended failed, error or cancelled; the new message_id."""
        execution = self.get_execution(reference)
        with self._db.writing() as conn:
            scheduled = lifecycle.retry_by_hand(conn, self._db.now(), execution.id, delay_seconds)
            wakeups.notify_work(conn)
        return scheduled.message_id

    def retry_all(
        self,
        where: ExecutionFilter,
        created_since: datetime | None = None,
        *,
        after_id: int | None = None,
        limit: int = BULK_RETRY_LIMIT,
        batch_size: int = BULK_RETRY_BATCH,
    ) -> BulkRetry:
        """Retry, once each, up to ``limit`` executions that match and ended failed, error or
        cancelled, oldest (lowest id) first and after ``after_id`` when given.

        Each ``batch_size`` of them is its own short write transaction, so a bulk retry of
        any size never holds the write lock (SQLite's is the whole database) for long.
        What the limit leaves is in ``remaining``; ``next_after_id`` resumes after it.
        """
        e = job_executions.c
        query = sa.select(e.id).where(e.status.in_(status_values(RETRYABLE_STATUSES)))
        query = _filtered(query, where)
        if created_since is not None:
            query = query.where(e.created_at >= created_since)
        if after_id is not None:
            query = query.where(e.id > after_id)
        with self._db.reading() as conn:
            matched = conn.execute(
                sa.select(sa.func.count()).select_from(query.subquery())
            ).scalar_one()
            chosen = list(conn.execute(query.order_by(e.id).limit(limit)).scalars())
        retried = 0
        for start in range(0, len(chosen), batch_size):
            retried += self._retry_batch(chosen[start : start + batch_size])
        remaining = max(matched - len(chosen), 0) if len(chosen) == limit else 0
        return BulkRetry(
            matched=matched,
            retried=retried,
            remaining=remaining,
            next_after_id=chosen[-1] if remaining else None,
        )

    def retry_all_preview(
        self, where: ExecutionFilter, *, after_id: int | None = None, limit: int = BULK_RETRY_LIMIT
    ) -> tuple[int, int, bool]:
        """What ``retry_all`` with the same arguments would retry: how many executions, in
        how many apps, and whether more match past ``limit`` (read from ``limit + 1`` rows,
        so the answer costs the same at any size of history)."""
        e = job_executions.c
        query: sa.Select[Any] = sa.select(e.application).where(
            e.status.in_(status_values(RETRYABLE_STATUSES))
        )
        query = _filtered(query, where)
        if after_id is not None:
            query = query.where(e.id > after_id)
        chosen = query.order_by(e.id).limit(limit).subquery()
        past = query.order_by(e.id).offset(limit).limit(1).subquery()
        with self._db.reading() as conn:
            found, apps_found = conn.execute(
                sa.select(sa.func.count(), sa.func.count(sa.distinct(chosen.c.application)))
            ).one()
            more = conn.execute(sa.select(sa.func.count()).select_from(past)).scalar_one() > 0
        return found, apps_found, more

    def _retry_batch(self, execution_ids: list[int]) -> int:
        """Retry these executions in one write transaction; how many it retried."""
        with self._db.writing() as conn:
            now = self._db.now()
            done = 0
            for execution_id in execution_ids:
                try:
                    lifecycle.retry_by_hand(conn, now, execution_id, 0)
                except Conflict:
                    continue  # changed since it was selected: it is no longer retryable
                done += 1
            if done:
                wakeups.notify_work(conn)
        return done


@dataclass(frozen=True)
class BatchOrder:
    """One message of ``Executions.enqueue_batch``: what ``enqueue`` takes, as one value."""

    application: str
    job: str
    queue: str
    message: Any
    delay_seconds: float = 0
    idempotency_key: str | None = None
    run_at: datetime | None = None
    priority: int | None = None  # None: the job definition's


def _check_priority(priority: int | None) -> None:
    if priority is not None and not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise InvalidInput(
            f"priority must be between {MIN_PRIORITY} and {MAX_PRIORITY}, not {priority}"
        )


def _schedule(
    now: datetime, delay_seconds: float, run_at: datetime | None
) -> tuple[datetime, float | str]:
    """When an enqueued execution may run, and the "when" its request hash takes."""
    if not 0 <= delay_seconds <= MAX_DELAY_SECONDS:  # also refuses NaN
        raise InvalidInput(
            f"delay_seconds must be between 0 and {MAX_DELAY_SECONDS}, not {delay_seconds}"
        )
    if run_at is not None:
        if delay_seconds:
            raise InvalidInput("give delay_seconds or run_at, not both")
        if run_at - now > timedelta(seconds=MAX_DELAY_SECONDS):
            raise InvalidInput(f"run_at is more than {MAX_DELAY_SECONDS // 86400} days away")
        # A repeat of the same request must match, so the hash takes run_at as asked
        # for, not the delay it makes now.
        return max(now, run_at), run_at.isoformat()
    return now + timedelta(seconds=delay_seconds), delay_seconds


@dataclass(frozen=True)
class PendingRow:
    """What a new execution holds when it is enqueued (by a client, a topic or a schedule)."""

    application: str
    app_id: int
    job: str
    queue: str
    message: Any
    run_after: datetime
    schedule_id: int | None = None
    scheduled_at: datetime | None = None
    priority: int = DEFAULT_PRIORITY


def job_priority(conn: sa.Connection, app_id: int, job: str) -> int:
    """The priority a job definition gives work that names none (a schedule's tick, say)."""
    found = conn.execute(
        sa.select(job_definitions.c.priority).where(
            job_definitions.c.app_id == app_id, job_definitions.c.job == job
        )
    ).scalar()
    return DEFAULT_PRIORITY if found is None else int(found)


def insert_pending(
    conn: sa.Connection,
    now: datetime,
    pending: PendingRow,
    *,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> sa.RowMapping:
    """Insert a pending execution and its first attempt, in the caller's transaction."""
    message_id = lifecycle.new_message_id()
    row = {
        "message_id": message_id,
        "application": pending.application,
        "app_id": pending.app_id,
        "job": pending.job,
        "queue": pending.queue,
        "message": pending.message,
        "status": Status.PENDING.value,
        "run_after": pending.run_after,
        "priority": pending.priority,
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "schedule_id": pending.schedule_id,
        "scheduled_at": pending.scheduled_at,
        "created_at": now,
        "updated_at": now,
    }
    inserted = conn.execute(_INSERT_EXECUTION, row).mappings().one()
    lifecycle.queue_attempt(conn, now, inserted["id"], message_id, pending.run_after, number=0)
    return inserted


def _check_enqueue_target(
    conn: sa.Connection, application: str, job: str, queue: str, expected_app_id: int | None
) -> tuple[int, int | None]:
    """The app's id and the job's default priority, once the app, the job and the queue exist."""
    found = conn.execute(
        _ENQUEUE_TARGET, {"application": application, "job": job, "queue": queue}
    ).one()
    app_id, job_id, queue_id, job_priority = found
    if app_id is None or (expected_app_id is not None and app_id != expected_app_id):
        raise NotFound(f"application {application!r} does not exist")
    if job_id is None:
        raise NotFound(f"job {job!r} is not defined for application {application!r}")
    if queue_id is None:
        raise NotFound(f"job queue {queue!r} does not exist")
    return int(app_id), job_priority


def _filtered(query: sa.Select[Any], where: ExecutionFilter) -> sa.Select[Any]:
    e = job_executions.c
    if where.application is not None:
        query = query.where(e.application == where.application)
    if where.app_id is not None:
        query = query.where(e.app_id == where.app_id)
    if where.job is not None:
        query = query.where(e.job == where.job)
    if where.queue is not None:
        query = query.where(e.queue == where.queue)
    if where.status is not None:
        query = query.where(e.status == where.status.value)
    if where.message_id_prefix:
        query = query.where(*_starting_with(where.message_id_prefix))
    if where.created_from is not None:
        query = query.where(e.created_at >= where.created_from, e.id >= _first_id(where))
    if where.created_to is not None:
        query = query.where(e.created_at < where.created_to)
    if where.schedule_id is not None:
        query = query.where(e.schedule_id == where.schedule_id)
    return query


# Ids grow with created_at but for enqueues that raced (a few milliseconds apart); an
# hour of slack makes the bound below hold for every execution in a time range.
_CREATED_AT_SLACK = timedelta(hours=1)


def _first_id(where: ExecutionFilter) -> sa.ScalarSelect[Any]:
    """A lower bound on the ids of executions created since ``where.created_from``.

    Lists read newest first by id, and the time range alone would not stop that scan:
    a range with few executions in it would read the whole table. Found through the
    created_at index, the bound ends the scan at the range's start (none: nothing).
    """
    assert where.created_from is not None
    e = job_executions.c
    return (
        sa.select(e.id)
        .where(e.created_at >= where.created_from - _CREATED_AT_SLACK)
        .order_by(e.created_at)
        .limit(1)
        .scalar_subquery()
    )


_HEX = "0123456789abcdef"


def _starting_with(prefix: str) -> list[sa.ColumnElement[bool]]:
    """Message ids starting with ``prefix``: the LIKE decides, and a range on the
    message_id index finds the candidates (no database uses an index for a LIKE everywhere).
    """
    e = job_executions.c
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    conditions: list[sa.ColumnElement[bool]] = [e.message_id.like(escaped + "%", escape="\\")]
    low, high = _message_id_range(prefix)
    if low is not None:
        conditions.append(e.message_id >= low)
    if high is not None:
        conditions.append(e.message_id < high)
    return conditions


def _message_id_range(prefix: str) -> tuple[str | None, str | None]:
    """Bounds every message_id starting with ``prefix`` lies within, or None where none is safe.

    Message ids are lowercase UUIDs. The upper bound stays among hex digits (by carrying
    past "f") and drops hyphens, so it holds under a collation that ignores punctuation.
    """
    lowered = prefix.lower()
    if not lowered or any(c not in _HEX + "-" for c in lowered):
        return None, None
    digits = lowered.rstrip("f-")
    if not digits:
        return lowered, None
    return lowered, digits[:-1] + _HEX[_HEX.index(digits[-1]) + 1]


def _request_hash(
    application: str, job: str, queue: str, message: Any, when: float | str, priority: int | None
) -> str:
    """A fingerprint of an enqueue request, to tell a replay from a different request."""
    fields = [application, job, queue, message, when]
    if priority is not None:  # keys stored before priorities existed still match
        fields.append(priority)
    canonical = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _is_number(text: str) -> bool:
    """ASCII digits only: str.isdigit alone also accepts '²' and other scripts' digits."""
    return text.isascii() and text.isdigit()
