"""Executions: enqueue, read (with attempts, output and why it waits), retry, cancel."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pitmaster.auth import Caller
from pitmaster.errors import InvalidInput, PitmasterError, TooLarge
from pitmaster.models import (
    BULK_RETRY_LIMIT,
    DEFAULT_QUEUE,
    MAX_MESSAGE_BYTES,
    MAX_MESSAGE_DEPTH,
    MESSAGE_ENV_LIMIT,
    RETRYABLE_STATUSES,
    Attempt,
    BulkRetry,
    Execution,
    ExecutionFilter,
    ExecutionPage,
    MessageDelivery,
    Status,
    json_depth,
)
from pitmaster.settings import Settings
from pitmaster.store.batch_enqueue import Enqueued
from pitmaster.store.executions import BatchOrder
from pitmaster.store.store import Store

logger = logging.getLogger(__name__)

Wakeup = Callable[[], None] | None
"""Wakes this process's worker at once (``up``), where one runs beside the server."""


def _wake(wakeup: Wakeup) -> None:
    if wakeup is not None:
        wakeup()


# -- enqueue ---------------------------------------------------------------------------


def message_size(message: Any) -> int:
    """The message's size as UTF-8 JSON; InvalidInput if it cannot be stored as JSON."""
    try:
        return len(json.dumps(message, ensure_ascii=False, allow_nan=False).encode())
    except ValueError as exc:  # NaN or Infinity, or a lone surrogate (UnicodeEncodeError)
        raise InvalidInput(f"message is not storable as JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidInput("message is nested too deeply") from exc


def check_message_fits(store: Store, application: str, job: str, size: int) -> None:
    """TooLarge if the job takes its message in BARBEQUE_MESSAGE only and it cannot fit there.

    Only a message too big for the environment costs the lookup of its job definition.
    """
    if size <= MESSAGE_ENV_LIMIT:
        return
    definition = store.get_job_definition(application, job)
    if definition.message_delivery is MessageDelivery.ENV:
        raise TooLarge(
            f"message is {size} bytes, and job {application}/{job} takes its message in the "
            f"environment variable BARBEQUE_MESSAGE only (message_delivery: env), which holds "
            f"at most {MESSAGE_ENV_LIMIT} bytes: send a smaller message, or set the job "
            "definition's message_delivery to auto or file"
        )


@dataclass(frozen=True)
class EnqueueOrder:
    application: str
    job: str
    message: Any
    queue: str | None = None
    delay_seconds: float | None = None
    idempotency_key: str | None = None
    run_at: datetime | None = None
    priority: int | None = None  # None: the job definition's


def _check_message(store: Store, caller: Caller, order: EnqueueOrder) -> None:
    """Refuse a message this caller may not send, or one too deep or too big to store."""
    caller.require_app(order.application)
    depth = json_depth(order.message)
    if depth > MAX_MESSAGE_DEPTH:
        raise InvalidInput(f"message is nested {depth} levels deep; at most {MAX_MESSAGE_DEPTH}")
    size = message_size(order.message)
    if size > MAX_MESSAGE_BYTES:
        raise TooLarge(f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}")
    check_message_fits(store, order.application, order.job, size)


def enqueue(store: Store, wakeup: Wakeup, caller: Caller, order: EnqueueOrder) -> Execution:
    """Check the message and store the execution; it is committed when this returns."""
    _check_message(store, caller, order)
    execution = store.enqueue(
        application=order.application,
        job=order.job,
        queue=order.queue or DEFAULT_QUEUE,
        message=order.message,
        delay_seconds=order.delay_seconds or 0,
        idempotency_key=order.idempotency_key,
        run_at=order.run_at,
        app_id=caller.app_id,
        priority=order.priority,
    )
    logger.info(
        "execution %s enqueued for %s/%s on %s",
        execution.message_id,
        execution.application,
        execution.job,
        execution.queue,
    )
    _wake(wakeup)
    return execution


MAX_BATCH = 1000
"""The most messages one batch enqueue takes."""


def enqueue_batch(
    store: Store, wakeup: Wakeup, caller: Caller, orders: Sequence[EnqueueOrder]
) -> list[Enqueued]:
    """Check every message, then store them all in one transaction (or none); in order.

    Each is checked as ``enqueue`` checks one; an error names the first bad item
    (``items[N]: ...``) and nothing is stored.
    """
    if not 1 <= len(orders) <= MAX_BATCH:
        raise InvalidInput(f"a batch holds 1 to {MAX_BATCH} messages, not {len(orders)}")
    for index, order in enumerate(orders):
        try:
            _check_message(store, caller, order)
        except PitmasterError as exc:
            raise type(exc)(f"items[{index}]: {exc}") from exc
    executions = store.enqueue_batch(
        [
            BatchOrder(
                application=order.application,
                job=order.job,
                queue=order.queue or DEFAULT_QUEUE,
                message=order.message,
                delay_seconds=order.delay_seconds or 0,
                idempotency_key=order.idempotency_key,
                run_at=order.run_at,
                priority=order.priority,
            )
            for order in orders
        ],
        app_id=caller.app_id,
    )
    logger.info("%d executions enqueued in one batch", len(executions))
    _wake(wakeup)
    return executions


# -- reading ---------------------------------------------------------------------------


def find(store: Store, caller: Caller, reference: str) -> Execution:
    """An execution by message_id or id, if the caller may see it (else NotFound)."""
    return caller.visible(store.get_execution(reference), reference)


def explain_pending(
    store: Store, settings: Settings, execution: Execution, *, name_workers: bool
) -> str | None:
    """Why a pending execution has not started yet, in words; None if it is not waiting."""
    return store.pending_reason(
        execution,
        settings.max_concurrent_executions,
        settings.worker_alive_seconds,
        name_workers=name_workers,
    )


def shown_attempt(attempts: Sequence[Attempt]) -> Attempt | None:
    """The attempt whose output an execution shows: the latest that has ended.

    With none ended (the first attempt waits or runs), there is no output to show
    yet: a running attempt's output so far is live output, not the execution's.
    """
    return next((a for a in reversed(attempts) if a.recorded_at is not None), None)


@dataclass(frozen=True)
class ExecutionView:
    """An execution as its reader sees it: its attempts, its output, why it waits."""

    execution: Execution
    attempts: list[Attempt]
    pending_reason: str | None

    @property
    def stdout(self) -> str | None:
        shown = shown_attempt(self.attempts)
        return shown.stdout if shown else None

    @property
    def stderr(self) -> str | None:
        shown = shown_attempt(self.attempts)
        return shown.stderr if shown else None


def read(
    store: Store,
    settings: Settings,
    caller: Caller,
    reference: str,
    *,
    with_attempts: bool = True,
) -> ExecutionView:
    """An execution the caller may see, with its attempts (if asked) and why it waits.

    Only an admin is told which workers there are.
    """
    execution = find(store, caller, reference)
    attempts = store.attempts_of(execution.id) if with_attempts else []
    reason = explain_pending(store, settings, execution, name_workers=caller.is_admin)
    return ExecutionView(execution=execution, attempts=attempts, pending_reason=reason)


@dataclass(frozen=True)
class AttemptView:
    """One attempt of an execution, with its stored output."""

    execution: Execution
    attempt: Attempt


def read_attempt(store: Store, caller: Caller, reference: str, number: int) -> AttemptView:
    """An attempt (by number, 0 the first run) of an execution the caller may see.

    Another app's execution, and a number it has no attempt for, are NotFound.
    """
    execution = find(store, caller, reference)
    return AttemptView(execution=execution, attempt=store.attempt_of(execution.id, number))


def list_page(
    store: Store, caller: Caller, where: ExecutionFilter, cursor: str | None, limit: int
) -> ExecutionPage:
    """A page of the executions the caller may see, newest first."""
    scoped = caller.scoped(where)
    if scoped is None:
        return ExecutionPage(items=[], next_cursor=None)
    return store.list_executions(scoped, cursor=cursor, limit=limit)


# -- changing --------------------------------------------------------------------------


def cancel(store: Store, caller: Caller, reference: str) -> Execution:
    """Cancel: a waiting execution at once, a running one by a stop the poller carries out."""
    found = find(store, caller, reference)
    execution = store.cancel(found.message_id)
    logger.info("execution %s: cancel asked for", execution.message_id)
    return execution


def retry(
    store: Store, wakeup: Wakeup, caller: Caller, reference: str, delay_seconds: float = 0
) -> str:
    """Retry an execution that ended failed, error or cancelled; the retry's message_id."""
    found = find(store, caller, reference)
    retry_id = store.retry(found.message_id, delay_seconds)
    logger.info("execution %s: retry %s scheduled by hand", found.message_id, retry_id)
    _wake(wakeup)
    return retry_id


@dataclass(frozen=True)
class RetryPreview:
    """What a bulk retry would do now: ``executions`` in ``apps``, and whether more match."""

    status: Status
    executions: int
    apps: int
    more: bool

    def summary(self) -> str:
        """``retry 25 failed executions in 3 apps``."""
        plural = "" if self.executions == 1 else "s"
        apps = f"{self.apps} app" + ("" if self.apps == 1 else "s")
        text = f"retry {self.executions} {self.status.value} execution{plural} in {apps}"
        return text + (" (more match: the rest on the next retry)" if self.more else "")


def preview_retry_matching(
    store: Store, caller: Caller, where: ExecutionFilter, *, after_id: int | None = None
) -> RetryPreview:
    """What ``retry_matching`` would retry for this caller and filter, without retrying."""
    status = where.status or Status.FAILED
    if status not in RETRYABLE_STATUSES:
        raise InvalidInput("only failed, error or cancelled executions can be retried")
    scoped = caller.scoped(replace(where, status=status))
    if scoped is None:
        return RetryPreview(status, 0, 0, more=False)
    count, apps, more = store.retry_all_preview(scoped, after_id=after_id)
    return RetryPreview(status, count, apps, more)


def retry_matching(  # noqa: PLR0913 -- the filter and paging of the bulk-retry request
    store: Store,
    wakeup: Wakeup,
    caller: Caller,
    where: ExecutionFilter,
    created_since: datetime | None = None,
    *,
    after_id: int | None = None,
    limit: int = BULK_RETRY_LIMIT,
) -> BulkRetry:
    """Retry, once each, the executions the caller may see that match (oldest first)."""
    if where.status is not None and where.status not in RETRYABLE_STATUSES:
        raise InvalidInput("only failed, error or cancelled executions can be retried")
    scoped = caller.scoped(where)
    if scoped is None:
        return BulkRetry(retried=0, matched=0, remaining=0, next_after_id=None)
    done = store.retry_all(scoped, created_since, after_id=after_id, limit=limit)
    logger.info(
        "bulk retry: %d of %d retried, %d remain", done.retried, done.matched, done.remaining
    )
    if done.retried:
        _wake(wakeup)
    return done
