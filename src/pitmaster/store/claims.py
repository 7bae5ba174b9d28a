"""Claims: taking runnable work under a lease, within every limit, and storing its container."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from pitmaster.errors import StoreError
from pitmaster.models import (
    ORDER_BY_PRIORITY,
    Claim,
    ClaimOrder,
    Execution,
    MarkResult,
    MessageDelivery,
)
from pitmaster.store import lifecycle
from pitmaster.store import secrets as secret_rows
from pitmaster.store.database import Database
from pitmaster.store.limits import (
    InFlight,
    Limits,
    blocked_apps,
    blocked_queues,
    count_in_flight,
    lock_and_recheck,
    read_limits,
)
from pitmaster.store.schema import attempts, job_executions, queue_app_turns

# A claim skips a candidate over its limit (seen only under the locks) and tries
# the next one; after this many it gives up until the next round.
_CLAIM_TRIES = 8


class _OverLimit:
    """A claim's candidate turned out to be over a limit once counted under the locks."""


_OVER_LIMIT = _OverLimit()


class Claims:
    """The runner's queries: claim an attempt, give a claim back, store its container."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def claim(
        self,
        worker_id: str,
        lease_seconds: float,
        *,
        queues: Collection[str] | None = None,
        global_limit: int | None = None,
        engine: str | None = None,
        order: ClaimOrder = ORDER_BY_PRIORITY,
    ) -> Claim | None:
        """Take the next runnable pending execution under a lease, or None.

        The next is the one of highest priority, then the oldest, as ``order``
        refines it (fair share between apps, aging). Only work within every
        concurrency limit, of a queue and an app not paused, is taken; work
        over a limit stays pending and does not hold back other queues or apps,
        whatever its priority. The claim
        records ``engine``, where the container will be made, before it exists.
        A claim whose lease ran out (its worker died before storing a container
        id) is taken over with the same attempt, hence the same container name,
        and only by a worker on the same engine, so a container the dead worker
        did create is adopted rather than doubled on another engine.
        """
        for _ in range(_CLAIM_TRIES):
            claim = self._claim_once(worker_id, lease_seconds, queues, global_limit, engine, order)
            if not isinstance(claim, _OverLimit):
                return claim
        return None

    def _claim_once(
        self,
        worker_id: str,
        lease_seconds: float,
        queues: Collection[str] | None,
        global_limit: int | None,
        engine: str | None,
        order: ClaimOrder,
    ) -> Claim | _OverLimit | None:
        # One candidate per transaction: a claimer that found its candidate over
        # a limit only under the locks lets go of them before trying another,
        # so locks are always taken in one order and claimers cannot deadlock.
        now = self._db.now()
        with self._db.writing() as conn:
            limits = read_limits(conn, global_limit)
            candidate = self._claim_candidate(conn, now, limits, queues, engine, order)
            if candidate is None:
                return None
            # A taken-over claim already counts against its limits.
            taken_over = candidate["claimed_by"] is not None
            if not taken_over and lock_and_recheck(
                conn, limits, candidate["queue"], candidate["application"]
            ):
                return _OVER_LIMIT
            execution = Execution.from_row(candidate)
            attempt = lifecycle.take_current_attempt(
                conn, now, candidate["current_attempt_id"], worker_id, engine
            )
            if attempt is None:
                raise StoreError(f"execution {execution.message_id} has no attempt to start")
            conn.execute(
                job_executions.update()
                .where(job_executions.c.id == execution.id)
                .values(
                    claimed_by=worker_id,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    updated_at=now,
                )
            )
            if order.fair_share:
                _take_turn(conn, now, execution.queue, execution.application)
            found = lifecycle.definition_and_image(conn, execution.app_id, execution.job)
            sealed = secret_rows.sealed_of_app(conn, execution.app_id) if found else {}
        definition, image = found if found is not None else (None, None)
        return Claim(
            installation=self._db.installation_id(),
            attempt_id=attempt["id"],
            attempt_number=attempt["number"],
            attempt_message_id=attempt["message_id"],
            execution=execution,
            docker_image=image if definition else None,
            command=definition.command if definition else None,
            memory=definition.memory if definition else None,
            cpus=definition.cpus if definition else None,
            pids_limit=definition.pids_limit if definition else None,
            network=definition.network if definition else None,
            sealed_secrets=sealed,
            message_delivery=definition.message_delivery if definition else MessageDelivery.AUTO,
            attempt_queued_at=attempt["created_at"],
        )

    def _claim_candidate(
        self,
        conn: sa.Connection,
        now: datetime,
        limits: Limits,
        queues: Collection[str] | None,
        engine: str | None,
        order: ClaimOrder,
    ) -> Mapping[str, Any] | None:
        e = job_executions.c
        claimable = _claimable(conn, now, limits, engine)
        if queues is not None:
            claimable.append(e.queue.in_(list(queues)))
        waiting = sa.select(job_executions).where(e.runnable.is_(True), *claimable)
        # Each query below walks one index and stops at its first row, except
        # fair share's, which sorts all that is due (docs/scheduling.md).
        if order.aging_seconds is not None:
            # Aged: it has waited long enough to go before any priority, oldest first.
            aged = waiting.where(e.run_after <= now - timedelta(seconds=order.aging_seconds))
            row = _first(conn, aged.order_by(e.run_after, e.id))
            if row is not None:
                return row
        if not order.fair_share:
            due = waiting.where(_unindexed(conn, e.run_after) <= now)
            return _first(conn, due.order_by(e.priority.desc(), e.run_after, e.id))
        turns = queue_app_turns.c
        by_turn = (
            waiting.where(e.run_after <= now)
            .outerjoin(
                queue_app_turns,
                sa.and_(turns.queue == e.queue, turns.application == e.application),
            )
            .order_by(
                e.priority.desc(), turns.last_claimed_at.asc().nulls_first(), e.run_after, e.id
            )
        )
        return _first(conn, by_turn)

    def release_claim(self, execution_id: int) -> None:
        """Give a claim back at once (the engine failed us), keeping its attempt for next time.

        ``claimed_by`` stays set: it marks the execution as holding a starting
        attempt, which already counts against the limits.
        """
        now = self._db.now()
        with self._db.writing() as conn:
            conn.execute(
                job_executions.update()
                .where(job_executions.c.id == execution_id, job_executions.c.runnable.is_(True))
                .values(lease_expires_at=now, updated_at=now)
            )

    def mark_running(
        self, attempt_id: int, container_id: str, engine_id: str, started_at: datetime
    ) -> MarkResult:
        """Store the started container; says if another runner did, or the attempt ended."""
        with self._db.writing() as conn:
            return lifecycle.mark_running(
                conn, self._db.now(), attempt_id, container_id, engine_id, started_at
            )


def _claimable(
    conn: sa.Connection, now: datetime, limits: Limits, engine: str | None
) -> list[sa.ColumnElement[bool]]:
    """What makes a due execution one this claimer may take now, whatever the order."""
    in_flight = count_in_flight(conn) if limits.any else InFlight(0, Counter(), Counter())
    global_full = limits.global_limit is not None and in_flight.total >= limits.global_limit
    e = job_executions.c
    # A claim taken over stays on the engine it was made for: its container may exist there.
    on_this_engine = (
        sa.select(attempts.c.id)
        .where(
            attempts.c.id == e.current_attempt_id,
            sa.or_(attempts.c.engine_id.is_(None), attempts.c.engine_id == engine)
            if engine is not None
            else attempts.c.engine_id.is_(None),
        )
        .exists()
    )
    return [
        sa.or_(e.lease_expires_at.is_(None), e.lease_expires_at < now),
        sa.or_(e.claimed_by.is_(None), on_this_engine),
        sa.or_(
            e.claimed_by.is_not(None),  # taken over: it already counts, and may be running
            sa.and_(
                sa.false() if global_full else sa.true(),
                e.queue.not_in(blocked_queues(limits, in_flight)),
                e.application.not_in(blocked_apps(limits, in_flight)),
            ),
        ),
    ]


def _unindexed(conn: sa.Connection, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """``column`` as SQLite will not search an index by (the same value).

    Given a range on run_after, SQLite's planner searches the run_after index
    and sorts what is due, rather than walk the priority index in claim order
    and stop at the first row; PostgreSQL walks the priority index either way.
    """
    return sa.func.coalesce(column, column) if conn.dialect.name == "sqlite" else column


def _first(conn: sa.Connection, query: sa.Select[Any]) -> Mapping[str, Any] | None:
    """The query's first row, locked; rows other claimers hold are skipped."""
    locked = query.limit(1).with_for_update(skip_locked=True, of=job_executions)
    row = conn.execute(locked).mappings().first()
    return dict(row) if row is not None else None


def _take_turn(conn: sa.Connection, now: datetime, queue: str, application: str) -> None:
    """Note that this app had work claimed from this queue now (fair share's turns)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert(queue_app_turns)
        .values(queue=queue, application=application, last_claimed_at=now)
        .on_conflict_do_update(
            index_elements=[queue_app_turns.c.queue, queue_app_turns.c.application],
            set_={"last_claimed_at": now},
        )
    )
