"""The home page's answer to "is everything OK?": totals, workers, and what looks stuck."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pitmaster.models import QueueSummary
from pitmaster.services.workers import WorkerView
from pitmaster.web.times import seconds_text

# Ready work waiting longer than this is called stuck on the home page.
STUCK_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class Health:
    running: int
    ready: int
    delayed: int
    failed_last_hour: str
    failed_last_day: str
    workers_alive: int
    workers: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def health(
    queues: Sequence[QueueSummary],
    workers: Sequence[WorkerView],
    failed_last_hour: int,
    failed_last_day: int,
    cap: int,
    now: datetime,
) -> Health:
    """Sums over the queues and workers, and each thing someone on call should look at."""
    problems = []
    ready = sum(q.ready for q in queues)
    alive = [view for view in workers if view.alive]
    if ready and not alive:
        problems.append(f"{ready} executions are ready but no worker is alive")
    for view in workers:
        if not view.alive:
            seen = seconds_text((now - view.worker.last_seen_at).total_seconds())
            problems.append(f"worker {view.worker.id} not seen for {seen}")
    for summary in queues:
        waited = summary.oldest_ready_at
        if waited is not None and now - waited > STUCK_AFTER:
            problems.append(
                f"queue {summary.queue.name}: its oldest ready work has waited "
                f"{seconds_text((now - waited).total_seconds())}"
            )
    if failed_last_hour:
        plural = "" if failed_last_hour == 1 else "s"
        problems.append(
            f"{_counted(failed_last_hour, cap)} execution{plural} failed in the last hour"
        )
    return Health(
        running=sum(q.running for q in queues),
        ready=ready,
        delayed=sum(q.delayed for q in queues),
        failed_last_hour=_counted(failed_last_hour, cap),
        failed_last_day=_counted(failed_last_day, cap),
        workers_alive=len(alive),
        workers=len(workers),
        problems=problems,
    )


def _counted(count: int, cap: int) -> str:
    return f"{cap}+" if count > cap else str(count)
