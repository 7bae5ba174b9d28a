"""The life of an execution in SQL: queued, claimed, running, ended, retried, cancelled.

Each function runs inside a transaction its caller (the ``Store``) opened, and
changes state only by compare-and-set, so that of two workers racing on one
execution exactly one sees its update take effect.

An execution always has a *current attempt*: a queued one while it waits to
be claimed (``runnable``), starting once a runner has claimed it, running once
its container started, ended once its ending is recorded. A retry is a new
queued attempt, with a message_id of its own, scheduled in the same
transaction that records the failure it answers: a crash between the two
cannot lose or double it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from pitmaster.errors import Conflict
from pitmaster.models import (
    ACTIVE_STATUSES,
    RETRYABLE_STATUSES,
    AttemptState,
    EndingReason,
    JobDefinition,
    MarkResult,
    Outcome,
    Output,
    Status,
    image_at_revision,
    status_values,
)
from pitmaster.retry import RetryPolicy, ending_of
from pitmaster.stops import settle
from pitmaster.store import notifications
from pitmaster.store.limits import LIVE_ATTEMPT_STATES
from pitmaster.store.schema import apps, attempts, job_definitions, job_executions

_CLAIMABLE_ATTEMPT_STATES = (AttemptState.QUEUED.value, AttemptState.STARTING.value)
CANCELLED = EndingReason.CANCELLED


@dataclass(frozen=True)
class Scheduled:
    message_id: str
    run_after: datetime


def new_message_id() -> str:
    return str(uuid.uuid4())


def queue_attempt(
    conn: sa.Connection,
    now: datetime,
    execution_id: int,
    message_id: str,
    run_after: datetime,
    number: int | None = None,
) -> int:
    """Add the next attempt of an execution (``number``, if known), queued, and make it current."""
    if number is None:
        number = conn.execute(
            sa.select(sa.func.count())
            .select_from(attempts)
            .where(attempts.c.execution_id == execution_id)
        ).scalar_one()
    attempt_id: int = conn.execute(
        _INSERT_ATTEMPT,
        {
            "execution_id": execution_id,
            "number": number,
            "message_id": message_id,
            "state": AttemptState.QUEUED.value,
            "run_after": run_after,
            "created_at": now,
            "updated_at": now,
        },
    ).scalar_one()
    conn.execute(
        _MAKE_CURRENT,
        {
            "execution": execution_id,
            "current_attempt_id": attempt_id,
            "runnable": True,
            "run_after": run_after,
            "claimed_by": None,
            "lease_expires_at": None,
            "updated_at": now,
        },
    )
    return attempt_id


# Built once: queueing an attempt is part of every enqueue.
_INSERT_ATTEMPT = attempts.insert().returning(attempts.c.id)
_MAKE_CURRENT = job_executions.update().where(job_executions.c.id == sa.bindparam("execution"))


def definition_of(conn: sa.Connection, app_id: int | None, job: str) -> JobDefinition | None:
    found = definition_and_image(conn, app_id, job)
    return found[0] if found is not None else None


def definition_and_image(
    conn: sa.Connection, app_id: int | None, job: str
) -> tuple[JobDefinition, str] | None:
    """A job's definition and its app's image, in one query; None if either is gone.

    The app is the execution's by id: an app of the same name made after it was
    deleted is another app, and never runs its executions.
    """
    if app_id is None:
        return None
    row = (
        conn.execute(
            sa.select(
                job_definitions,
                apps.c.name.label("app"),
                apps.c.docker_image,
                apps.c.revision_lock,
            )
            .join(apps, apps.c.id == job_definitions.c.app_id)
            .where(apps.c.id == app_id, job_definitions.c.job == job)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return JobDefinition.from_row(dict(row)), image_at_revision(
        row["docker_image"], row["revision_lock"]
    )


def take_current_attempt(
    conn: sa.Connection, now: datetime, attempt_id: int, worker_id: str, engine: str | None
) -> Mapping[str, Any] | None:
    """Move a claimed execution's current attempt to starting, under this worker and engine."""
    row = (
        conn.execute(
            attempts.update()
            .where(attempts.c.id == attempt_id, attempts.c.state.in_(_CLAIMABLE_ATTEMPT_STATES))
            .values(
                state=AttemptState.STARTING.value,
                worker_id=worker_id,
                engine_id=engine,
                updated_at=now,
            )
            .returning(
                attempts.c.id, attempts.c.number, attempts.c.message_id, attempts.c.created_at
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def mark_running(
    conn: sa.Connection,
    now: datetime,
    attempt_id: int,
    container_id: str,
    engine_id: str,
    started_at: datetime,
) -> MarkResult:
    execution_id = conn.execute(
        attempts.update()
        .where(attempts.c.id == attempt_id, attempts.c.state == AttemptState.STARTING.value)
        .values(
            state=AttemptState.RUNNING.value,
            container_id=container_id,
            engine_id=engine_id,
            started_at=started_at,
            updated_at=now,
        )
        .returning(attempts.c.execution_id)
    ).scalar()
    if execution_id is None:
        current = conn.execute(
            sa.select(attempts.c.state, attempts.c.container_id).where(attempts.c.id == attempt_id)
        ).one()
        if current.container_id is not None:
            # Another runner took the claim over and stored the container (the same one,
            # adopted by name): it is that runner's, even if it has ended since.
            return MarkResult.ALREADY_RUNNING
        ended = current.state == AttemptState.ENDED.value
        return MarkResult.ENDED if ended else MarkResult.ALREADY_RUNNING
    e = job_executions.c
    conn.execute(
        job_executions.update()
        .where(e.id == execution_id)
        .values(
            # A retry keeps showing "retried" while it runs, as in barbeque.
            status=sa.case(
                (e.status == Status.PENDING.value, Status.RUNNING.value), else_=e.status
            ),
            runnable=False,
            started_at=started_at,
            claimed_by=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    return MarkResult.RUNNING


def record_outcome(
    conn: sa.Connection,
    now: datetime,
    attempt_id: int,
    outcome: Outcome,
    output_pending: bool = False,
) -> bool:
    """End a live attempt, once; then either schedule its retry or end the execution.

    ``output_pending``: the ending is known from the exit event alone, and the
    output (and Docker's exact times) follow with ``record_output``.
    """
    current = conn.execute(
        sa.select(attempts.c.stop_reason, attempts.c.started_at)
        .where(attempts.c.id == attempt_id)
        .with_for_update()
    ).first()
    if current is None:
        return False
    outcome = settle(outcome, current.stop_reason)
    # The start time stored when the container started is ours; Docker's replaces it.
    started_at = outcome.started_at or current.started_at
    ended = (
        conn.execute(
            attempts.update()
            .where(attempts.c.id == attempt_id, attempts.c.state.in_(LIVE_ATTEMPT_STATES))
            .values(
                state=AttemptState.ENDED.value,
                status=outcome.status.value,
                reason=outcome.reason,
                exit_code=outcome.exit_code,
                started_at=started_at,
                finished_at=outcome.finished_at,
                recorded_at=now,
                stdout=outcome.stdout,
                stderr=outcome.stderr,
                output_pending=output_pending,
                output_recorded_at=None if output_pending else now,
                updated_at=now,
            )
            .returning(attempts.c.execution_id, attempts.c.number)
        )
        .mappings()
        .first()
    )
    if ended is None:
        return False
    execution = conn.execute(
        sa.select(job_executions.c.app_id, job_executions.c.job).where(
            job_executions.c.id == ended["execution_id"]
        )
    ).one()
    values: dict[str, Any] = {
        "output_pending": output_pending,
        "started_at": _follow(job_executions.c.started_at, current.started_at, started_at),
        "reason": outcome.reason,
        "exit_code": outcome.exit_code,
        "finished_at": outcome.finished_at,
        "claimed_by": None,
        "lease_expires_at": None,
        "updated_at": now,
    }
    retry_delay = _automatic_retry_delay(
        conn, execution.app_id, execution.job, int(ended["number"]), outcome
    )
    if retry_delay is None:
        values |= {"status": outcome.status.value, "runnable": False}
    else:
        run_after = now + timedelta(seconds=retry_delay)
        queue_attempt(conn, now, ended["execution_id"], new_message_id(), run_after)
        values |= {"status": Status.RETRIED.value}
    conn.execute(
        job_executions.update().where(job_executions.c.id == ended["execution_id"]).values(**values)
    )
    # In this transaction: the ending and its notifications are committed together, or neither.
    notifications.add_for_ending(
        conn,
        now,
        notifications.Ending(
            execution_id=ended["execution_id"],
            attempt=int(ended["number"]),
            status=outcome.status,
            reason=outcome.reason,
            exit_code=outcome.exit_code,
            started_at=started_at,
            finished_at=outcome.finished_at,
            will_retry=retry_delay is not None,
        ),
    )
    return True


def record_output(
    conn: sa.Connection,
    now: datetime,
    attempt_id: int,
    output: Output,
) -> bool:
    """Add the output, and Docker's times, to an attempt ended from its exit event; once."""
    before = conn.execute(
        sa.select(attempts.c.execution_id, attempts.c.started_at, attempts.c.finished_at)
        .where(attempts.c.id == attempt_id, attempts.c.output_pending.is_(True))
        .with_for_update()
    ).first()
    if before is None:
        return False
    started_at = output.started_at or before.started_at
    finished_at = output.finished_at or before.finished_at
    # The row is locked (and still pending) from the select above: this write is the one.
    conn.execute(
        attempts.update()
        .where(attempts.c.id == attempt_id)
        .values(
            stdout=output.stdout,
            stderr=output.stderr,
            started_at=started_at,
            finished_at=finished_at,
            output_pending=False,
            output_recorded_at=now,
            updated_at=now,
        )
    )
    e = job_executions.c
    conn.execute(
        job_executions.update()
        .where(e.id == before.execution_id)
        .values(
            started_at=_follow(e.started_at, before.started_at, started_at),
            finished_at=_follow(e.finished_at, before.finished_at, finished_at),
            output_pending=False,
        )
    )
    return True


def _follow(
    column: sa.ColumnElement[Any], attempts_was: datetime | None, attempts_now: datetime | None
) -> sa.ColumnElement[Any]:
    """An execution's time that follows its attempt's: changed only if it was the attempt's."""
    return sa.case((column == attempts_was, attempts_now), else_=column)


def _automatic_retry_delay(
    conn: sa.Connection,
    app_id: int | None,
    job: str,
    retries: int,
    outcome: Outcome,
) -> float | None:
    """Seconds until the retry this ending earns under its job's policy, or None for none."""
    ending = ending_of(outcome.status, outcome.reason)
    if ending is None:
        return None
    definition = definition_of(conn, app_id, job)
    if definition is None:
        return None
    policy = RetryPolicy.of(definition)
    if not policy.should_retry(ending, outcome.exit_code, retries):
        return None
    return policy.delay(retries)


def retry_by_hand(
    conn: sa.Connection, now: datetime, execution_id: int, delay_seconds: float
) -> Scheduled:
    """Schedule one more attempt of an execution that ended failed, error or cancelled."""
    e = job_executions.c
    changed = conn.execute(
        job_executions.update()
        .where(e.id == execution_id, e.status.in_(status_values(RETRYABLE_STATUSES)))
        .values(status=Status.RETRIED.value, updated_at=now)
    ).rowcount
    if changed == 0:
        status = conn.execute(sa.select(e.status).where(e.id == execution_id)).scalar_one()
        raise Conflict(
            f"only a failed, error or cancelled execution can be retried; this one is {status}"
        )
    scheduled = Scheduled(new_message_id(), now + timedelta(seconds=delay_seconds))
    queue_attempt(conn, now, execution_id, scheduled.message_id, scheduled.run_after)
    return scheduled


def _cancelled_attempt(now: datetime) -> dict[str, Any]:
    """An attempt that never started, ended by a cancel."""
    return {
        "state": AttemptState.ENDED.value,
        "status": Status.CANCELLED.value,
        "reason": CANCELLED.value,
        "recorded_at": now,
        "updated_at": now,
    }


def _cancelled_execution(now: datetime) -> dict[str, Any]:
    """An execution cancelled while it waited: it will never run."""
    return {
        "status": Status.CANCELLED.value,
        "reason": CANCELLED.value,
        "runnable": False,
        "claimed_by": None,
        "lease_expires_at": None,
        "finished_at": now,
        "updated_at": now,
    }


def cancel(conn: sa.Connection, now: datetime, execution_id: int) -> None:
    """Cancel an execution: at once if it waits, by stopping its container if it runs.

    Cancelling twice is fine; cancelling one that has ended otherwise is a Conflict.
    """
    e = job_executions.c
    row = conn.execute(
        sa.select(e.status, e.runnable, e.current_attempt_id).where(e.id == execution_id)
    ).one()
    if row.status == Status.CANCELLED.value:
        return
    if Status(row.status).is_terminal:
        raise Conflict(f"execution has already ended: it is {row.status}")
    # Lock the attempt: a runner storing its container now waits for this
    # cancel, then finds the attempt ended (and removes the container).
    attempt = conn.execute(
        sa.select(attempts.c.state, attempts.c.stop_reason)
        .where(attempts.c.id == row.current_attempt_id)
        .with_for_update()
    ).first()
    if attempt is not None and attempt.state == AttemptState.RUNNING.value:
        if attempt.stop_reason != CANCELLED.value:  # a cancel outranks a timeout stop under way
            conn.execute(
                attempts.update()
                .where(attempts.c.id == row.current_attempt_id)
                .values(
                    stop_reason=CANCELLED.value,
                    stop_requested_at=sa.func.coalesce(attempts.c.stop_requested_at, now),
                    updated_at=now,
                )
            )
        return
    # Waiting, or claimed but not started: it never starts. A runner that is
    # starting it finds its attempt ended and removes the container.
    conn.execute(
        attempts.update()
        .where(
            attempts.c.id == row.current_attempt_id,
            attempts.c.state.in_(_CLAIMABLE_ATTEMPT_STATES),
        )
        .values(**_cancelled_attempt(now))
    )
    conn.execute(
        job_executions.update().where(e.id == execution_id).values(**_cancelled_execution(now))
    )
    number = conn.execute(
        sa.select(attempts.c.number).where(attempts.c.id == row.current_attempt_id)
    ).scalar()
    notifications.add_for_ending(
        conn,
        now,
        notifications.Ending(
            execution_id=execution_id,
            attempt=int(number or 0),
            status=Status.CANCELLED,
            reason=CANCELLED.value,
            exit_code=None,
            started_at=None,
            finished_at=now,
            will_retry=False,
        ),
    )


def cancel_all_of_app(conn: sa.Connection, now: datetime, app_id: int) -> int:
    """Cancel every execution of an app that has not ended (``cancel`` for each, in bulk).

    Waiting ones (``runnable``: queued, or claimed and not yet started) end
    cancelled at once; a runner starting one finds its attempt ended and removes
    the container. Running ones get a stop request that the poller carries out.
    Returns how many executions were cancelled or asked to stop.
    """
    e = job_executions.c
    live = sa.and_(e.app_id == app_id, e.status.in_(status_values(ACTIVE_STATUSES)))
    current = sa.select(e.current_attempt_id).where(live).scalar_subquery()
    # Lock the attempts first, as ``cancel`` does, so a runner storing its
    # container waits for this and then finds its attempt ended.
    conn.execute(sa.select(attempts.c.id).where(attempts.c.id.in_(current)).with_for_update()).all()
    conn.execute(
        attempts.update()
        .where(attempts.c.id.in_(current), attempts.c.state.in_(_CLAIMABLE_ATTEMPT_STATES))
        .values(**_cancelled_attempt(now))
    )
    stopping: int = conn.execute(
        attempts.update()
        .where(
            attempts.c.id.in_(current),
            attempts.c.state == AttemptState.RUNNING.value,
            sa.or_(attempts.c.stop_reason.is_(None), attempts.c.stop_reason != CANCELLED.value),
        )
        .values(
            stop_reason=CANCELLED.value,
            stop_requested_at=sa.func.coalesce(attempts.c.stop_requested_at, now),
            updated_at=now,
        )
    ).rowcount
    waiting: int = conn.execute(
        job_executions.update()
        .where(live, e.runnable.is_(True))
        .values(**_cancelled_execution(now))
    ).rowcount
    return waiting + stopping


def request_stop(conn: sa.Connection, now: datetime, attempt_id: int, reason: str) -> bool:
    """Ask for a running attempt to be stopped (once); the poller carries it out."""
    changed: int = conn.execute(
        attempts.update()
        .where(
            attempts.c.id == attempt_id,
            attempts.c.state == AttemptState.RUNNING.value,
            attempts.c.stop_reason.is_(None),
        )
        .values(stop_reason=reason, stop_requested_at=now, updated_at=now)
    ).rowcount
    return changed == 1


def mark_stop_signalled(conn: sa.Connection, now: datetime, attempt_id: int) -> None:
    conn.execute(
        attempts.update()
        .where(attempts.c.id == attempt_id, attempts.c.stop_signalled_at.is_(None))
        .values(stop_signalled_at=now, updated_at=now)
    )
