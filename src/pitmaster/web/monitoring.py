"""The monitor's tables: failure rate and duration percentiles per job, queue wait per queue."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pitmaster.models import Status
from pitmaster.store.stats import RecentExecution
from pitmaster.web.times import seconds_text

FAILED = frozenset({Status.FAILED, Status.ERROR})
PERCENTILES = (50, 95, 99)


def percentile(values: Sequence[float], point: int) -> float | None:
    """The nearest-rank percentile of sorted ``values`` (None for none)."""
    if not values:
        return None
    rank = max(0, min(len(values) - 1, -(-point * len(values) // 100) - 1))
    return values[rank]


@dataclass(frozen=True)
class JobRow:
    app: str
    job: str
    ended: int
    failed: int
    durations: tuple[str, ...]  # p50, p95, p99

    @property
    def failure_rate(self) -> str:
        return f"{100 * self.failed / self.ended:.1f} %" if self.ended else "—"


@dataclass(frozen=True)
class QueueRow:
    queue: str
    started: int
    waits: tuple[str, ...]  # p50, p95, p99


def _spread(values: Iterable[float]) -> tuple[str, ...]:
    ordered = sorted(values)
    return tuple(seconds_text(percentile(ordered, point)) for point in PERCENTILES)


def job_rows(executions: Sequence[RecentExecution]) -> list[JobRow]:
    """Per job, of the executions that ended: how many, how many failed, how long they ran."""
    ended: dict[tuple[str, str], list[RecentExecution]] = defaultdict(list)
    for execution in executions:
        if execution.status.is_terminal and execution.status is not Status.CANCELLED:
            ended[(execution.application, execution.job)].append(execution)
    rows = []
    for (app, job), done in ended.items():
        durations = [
            max((e.finished_at - e.started_at).total_seconds(), 0.0)
            for e in done
            if e.started_at is not None and e.finished_at is not None
        ]
        failed = sum(1 for e in done if e.status in FAILED)
        rows.append(JobRow(app, job, len(done), failed, _spread(durations)))
    return sorted(rows, key=lambda row: (-row.failed, row.app, row.job))


def queue_rows(executions: Sequence[RecentExecution]) -> list[QueueRow]:
    """Per queue, of the executions that started: how long they waited once due."""
    waits: dict[str, list[float]] = defaultdict(list)
    for e in executions:
        if e.started_at is None:
            continue
        due = max(e.created_at, e.run_after)
        if due > e.started_at:  # run_after moved on with a retry
            due = e.created_at
        waits[e.queue].append(max((e.started_at - due).total_seconds(), 0.0))
    return [
        QueueRow(queue, len(values), _spread(values)) for queue, values in sorted(waits.items())
    ]
