"""What the pages show, computed from domain objects: timelines, durations, chart series."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from markupsafe import Markup

from pitmaster.executors.base import Logs
from pitmaster.models import (
    RETRYABLE_STATUSES,
    STOP_GRACE_SECONDS,
    TERMINAL_STATUSES,
    Attempt,
    AttemptState,
    EndingReason,
    Execution,
    HourlyBucket,
    Status,
    hours_between,
)
from pitmaster.services.executions import ExecutionView
from pitmaster.web.charts import (
    OTHERS_COLOUR,
    PALETTE,
    STATUS_COLOURS,
    Series,
    chart,
    duration_unit,
)
from pitmaster.web.output import clean_output
from pitmaster.web.times import iso, seconds_text, when

CANCELLABLE = frozenset({Status.PENDING, Status.RUNNING, Status.RETRIED})


def can_retry(execution: Execution) -> bool:
    return execution.status in RETRYABLE_STATUSES


def can_cancel(execution: Execution) -> bool:
    return execution.status in CANCELLABLE


def shell_command(argv: Sequence[str]) -> str:
    """A job's argv as a shell would take it back: ``sh -c 'echo nope; exit 4'``."""
    return shlex.join(argv)


def waiting_text(execution: Execution | None, reason: str | None) -> str:
    """Why an execution waits, with the time it is due written as the console writes times.

    The reason (the API's too) ends in ``run_after`` in ISO 8601 when it is not due yet.
    """
    if reason is None or execution is None:
        return reason or ""
    due = execution.run_after.isoformat()
    if reason.endswith(due):
        return reason.removesuffix(due) + when(execution.run_after)
    return reason


def age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "—"
    return seconds_text(max((now - moment).total_seconds(), 0.0))


def duration(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


@dataclass(frozen=True)
class TimelineEntry:
    moment: datetime | None
    event: str
    detail: str
    attempt: int | None = None  # the attempt it is about, whose page it links to


def attempt_label(attempt: Attempt) -> str:
    """Attempts are counted from 1 wherever the console shows them (retry k is attempt k + 1)."""
    return f"attempt {attempt.number + 1}"


def timeline(execution: Execution, attempts: Sequence[Attempt]) -> list[TimelineEntry]:
    """Enqueued, then each attempt's queueing, start, stop request and end, in order."""
    entries = [TimelineEntry(execution.created_at, "enqueued", f"on queue {execution.queue}")]
    for attempt in attempts:
        label, number = attempt_label(attempt), attempt.number
        if attempt.number > 0:
            entries.append(
                TimelineEntry(
                    attempt.run_after, f"{label} scheduled", f"retry {attempt.number}", number
                )
            )
        if attempt.started_at is not None:
            entries.append(
                TimelineEntry(
                    attempt.started_at,
                    f"{label} started",
                    f"container {(attempt.container_id or '')[:12]}",
                    number,
                )
            )
        entries.extend(_stop_request(attempt, label))
        if attempt.state is AttemptState.ENDED:
            status = attempt.status.value if attempt.status else "ended"
            detail = attempt.reason or ""
            if attempt.exit_code is not None:
                detail = f"{detail} (exit code {attempt.exit_code})".strip()
            entries.append(
                TimelineEntry(
                    attempt.finished_at or attempt.recorded_at, f"{label} {status}", detail, number
                )
            )
    return entries


def _stop_request(attempt: Attempt, label: str) -> list[TimelineEntry]:
    """A cancel (or a timeout) asking a running attempt to stop; a cancel of one that waited."""
    if attempt.stop_requested_at is not None:
        if attempt.stop_reason == EndingReason.CANCELLED:
            entries = [
                TimelineEntry(attempt.stop_requested_at, "cancel requested", f"{label} stopping")
            ]
        else:
            reason = attempt.stop_reason or "stop"
            entries = [TimelineEntry(attempt.stop_requested_at, f"{reason}: stop requested", label)]
        if attempt.stop_signalled_at is not None:
            entries.append(
                TimelineEntry(
                    attempt.stop_signalled_at, "SIGTERM sent", f"to {label}", attempt.number
                )
            )
        return entries
    never_ran = attempt.started_at is None and attempt.status is Status.CANCELLED
    if attempt.state is AttemptState.ENDED and never_ran:
        return [
            TimelineEntry(
                attempt.recorded_at, "cancel requested", f"{label} had not started; it never runs"
            )
        ]
    return []


def stopping_text(attempts: Sequence[Attempt], grace_seconds: float) -> str:
    """``stopping (SIGTERM sent at ..., kill at ...)`` while a cancelled attempt still runs;
    empty when none is being stopped."""
    running = next((a for a in reversed(attempts) if a.state is not AttemptState.ENDED), None)
    if running is None or running.stop_requested_at is None:
        return ""
    if running.stop_signalled_at is None:
        return (
            f"stopping (stop requested at {when(running.stop_requested_at)}, SIGTERM not sent yet)"
        )
    kill_at = running.stop_signalled_at + timedelta(seconds=grace_seconds)
    return f"stopping (SIGTERM sent at {when(running.stop_signalled_at)}, kill at {when(kill_at)})"


def execution_duration(execution: Execution, now: datetime) -> str:
    """How long it ran; for a running one, how long so far."""
    running = execution.status is Status.RUNNING and execution.finished_at is None
    if execution.started_at is not None and running:
        return f"{seconds_text(duration(execution.started_at, now))} so far"
    return seconds_text(duration(execution.started_at, execution.finished_at))


def queue_wait(execution: Execution, now: datetime) -> str:
    """From when it was due (enqueue, or the end of its delay) to its start; for one still
    waiting, how long so far. Delayed work is not waiting before it is due."""
    due = max(execution.created_at, execution.run_after)
    if execution.started_at is not None:
        if due > execution.started_at:  # run_after moved on with a retry
            due = execution.created_at
        return seconds_text(duration(due, execution.started_at))
    if execution.status is Status.PENDING:
        if due > now:
            return "not due yet"
        return f"{seconds_text(duration(due, now))} so far"
    return "—"


def live_state(
    view: ExecutionView,
    running_output: Logs | None = None,
    stop_grace_seconds: float = STOP_GRACE_SECONDS,
    now: datetime | None = None,
) -> dict[str, Any]:
    """What the execution page refreshes while the execution has not ended.

    ``running_output`` is the running attempt's output so far, when this
    process can read it from the engine; otherwise output shows once stored.
    """
    now = now or datetime.now(UTC)
    execution, attempts, pending_reason = view.execution, view.attempts, view.pending_reason
    stopping = (
        stopping_text(attempts, stop_grace_seconds) if not execution.status.is_terminal else ""
    )
    stdout = running_output.stdout if running_output else view.stdout
    stderr = running_output.stderr if running_output else view.stderr
    settled = execution.status.is_terminal and not execution.output_pending
    if settled:
        note = ""
    elif execution.output_pending:
        note = "(its output is being read; this page refreshes itself)"
    elif running_output is not None:
        note = "(live: the end of the running attempt's output so far)"
    else:
        note = "(shown when the attempt ends; this page refreshes itself)"
    return {
        "output_note": note,
        "status": execution.status.value,
        "stopping": stopping,
        "terminal": settled,  # nothing more will change: the page stops refreshing
        "reason": execution.reason or "",
        "pending_reason": waiting_text(execution, pending_reason),
        "waiting": execution.status is Status.PENDING,
        "exit_code": "" if execution.exit_code is None else str(execution.exit_code),
        "started_at": when(execution.started_at),
        "started_at_iso": iso(execution.started_at),
        "finished_at": when(execution.finished_at),
        "finished_at_iso": iso(execution.finished_at),
        "duration": execution_duration(execution, now),
        "queue_wait": queue_wait(execution, now),
        # From enqueue to its final ending: what a retried execution cost in all.
        "total": seconds_text(duration(execution.created_at, execution.finished_at))
        if execution.status.is_terminal
        else f"{seconds_text(duration(execution.created_at, now))} so far",
        "can_retry": can_retry(execution),
        "can_cancel": can_cancel(execution) and not stopping,
        "stdout": clean_output(stdout),
        "stderr": clean_output(stderr),
        "attempts": [
            [
                str(a.number + 1),
                a.message_id,
                a.state.value,
                a.status.value if a.status else "",
                a.reason or "",
                "" if a.exit_code is None else str(a.exit_code),
                when(a.started_at),
                when(a.finished_at),
                seconds_text(duration(a.started_at, a.finished_at)),
                (a.container_id or "")[:12],
            ]
            for a in attempts
        ],
        # The last item of an entry: the number of the attempt it links to ("" for none).
        "timeline": [
            [
                when(entry.moment),
                entry.event,
                entry.detail,
                "" if entry.attempt is None else str(entry.attempt),
                iso(entry.moment),
            ]
            for entry in timeline(execution, attempts)
        ],
    }


def attempt_facts(attempt: Attempt) -> list[tuple[str, str]]:
    """An attempt's facts as its page lists them, label and value."""
    return [
        ("message_id", attempt.message_id),
        ("State", attempt.state.value),
        ("Reason", attempt.reason or "—"),
        ("Exit code", "—" if attempt.exit_code is None else str(attempt.exit_code)),
        ("Queued for", when(attempt.run_after)),
        ("Started", when(attempt.started_at)),
        ("Finished", when(attempt.finished_at)),
        ("Duration", seconds_text(duration(attempt.started_at, attempt.finished_at))),
        ("Container", attempt.container_id or "—"),
        ("Engine", attempt.engine_id or "—"),
    ]


def attempt_output_note(attempt: Attempt) -> str:
    """Why an attempt shows no output yet, if it cannot have any stored."""
    if attempt.state is not AttemptState.ENDED:
        return "(stored when the attempt ends: the execution's page shows it live)"
    if attempt.output_pending:
        return "(its output is being read)"
    return ""


def _by_hour(
    buckets: Sequence[HourlyBucket], hours: Sequence[datetime], key: str, average: bool
) -> list[float | None]:
    index = {hour: position for position, hour in enumerate(hours)}
    values: list[float | None] = [None if average else 0.0 for _ in hours]
    for bucket in buckets:
        position = index.get(bucket.hour)
        if position is None or bucket.key != key:
            continue
        values[position] = bucket.average_seconds if average else float(bucket.count)
    return values


def job_charts(
    buckets: Sequence[HourlyBucket], since: datetime, now: datetime, span: str
) -> tuple[Markup, Markup]:
    """Executions per hour and average duration per hour, one series per ending."""
    hours = hours_between(since, now)
    statuses = [status.value for status in Status if status in TERMINAL_STATUSES]
    counts = [
        Series(status, STATUS_COLOURS[status], _by_hour(buckets, hours, status, average=False))
        for status in statuses
    ]
    seconds = {status: _by_hour(buckets, hours, status, average=True) for status in statuses}
    unit, size = duration_unit([value for values in seconds.values() for value in values])
    durations = [
        Series(
            status,
            STATUS_COLOURS[status],
            [None if value is None else value / size for value in seconds[status]],
        )
        for status in statuses
    ]
    return (
        chart(f"Executions per hour, {span}", hours, counts, unit="executions", whole=True),
        chart(f"Average duration per hour, {span}", hours, durations, unit=unit, stacked=False),
    )


def jobs_chart(
    buckets: Sequence[HourlyBucket], since: datetime, now: datetime, span: str
) -> Markup:
    """Executions enqueued per hour, one stacked series per job.

    Past the palette's size, the busiest jobs keep a colour each and the rest
    are summed into one series, so no two jobs look alike.
    """
    hours = hours_between(since, now)
    per_job = {
        key: _by_hour(buckets, hours, key, average=False)
        for key in sorted({bucket.key for bucket in buckets})
    }
    shown = list(per_job)
    if len(per_job) > len(PALETTE):
        busiest = sorted(per_job, key=lambda key: -sum(v or 0 for v in per_job[key]))
        shown = sorted(busiest[: len(PALETTE) - 1])
    series = [Series(key, PALETTE[position], per_job[key]) for position, key in enumerate(shown)]
    rest = [values for key, values in per_job.items() if key not in shown]
    if rest:
        summed = [sum(v or 0 for v in hour) for hour in zip(*rest, strict=True)]
        series.append(Series(f"{len(rest)} other jobs", OTHERS_COLOUR, summed))
    return chart(
        f"Executions enqueued per hour by job, {span}", hours, series, unit="executions", whole=True
    )


def window(now: datetime, hours: int) -> datetime:
    return now - timedelta(hours=hours)


@dataclass(frozen=True)
class ExecutionRow:
    """One line of the executions list: what happened to it, at a glance."""

    execution: Execution
    attempts: int
    duration: str
    queue_wait: str
    note: str  # why it waits, or how it ended

    @property
    def retries(self) -> int:
        return max(self.attempts - 1, 0)


def execution_row(
    execution: Execution, attempts: int, waiting: str | None, now: datetime
) -> ExecutionRow:
    note = execution.reason or ""
    if execution.status is Status.PENDING:
        due = execution.run_after > now
        note = waiting or (f"due {when(execution.run_after)}" if due else "waiting to be claimed")
    return ExecutionRow(
        execution=execution,
        attempts=attempts,
        duration=execution_duration(execution, now),
        queue_wait=queue_wait(execution, now),
        note=note,
    )
