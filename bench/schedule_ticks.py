"""Schedule tick accuracy: how late after its tick each scheduled execution is created.

Three ``pitmaster worker`` processes tick the same schedules (each "* * * * *",
so every minute boundary is a tick of each) on one database. Their jobs go to a
queue no worker serves, so the measure is the tick alone: from the tick's time
(``scheduled_at``) to the execution's ``created_at``, both stored by the
database's clock. Only ticks after every worker is up count. Each tick must
have made exactly one execution.

Baseline: a bare timer in the benchmark's own process, a thread that sleeps
until each of the same minute boundaries, measured by how late it wakes. On a
loaded machine that lateness is the floor under any scheduler's.
"""

from __future__ import annotations

import statistics
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import database, pitmaster
from pitmaster.models import ExecutionFilter
from pitmaster.services import schedules as schedule_service
from pitmaster.services.inputs import ScheduleCreate
from pitmaster.store.store import Store

SCHEDULES = 20
WORKERS = 3
UNSERVED_QUEUE = "bench-unserved"


def _lateness(store: Store, names: list[str], since: datetime) -> list[float]:
    late = []
    for name in names:
        schedule = store.get_schedule(name)
        page = store.list_executions(ExecutionFilter(schedule_id=schedule.id), limit=500)
        ticks = [e.scheduled_at for e in page.items if e.scheduled_at is not None]
        if len(ticks) != len(set(ticks)):
            raise SystemExit(f"schedule {name} made two executions for one tick")
        late += [
            (e.created_at - e.scheduled_at).total_seconds()
            for e in page.items
            if e.scheduled_at is not None and e.scheduled_at >= since
        ]
    return late


def _wait_for_workers(store: Store, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(store.list_workers()) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} workers did not start")
        time.sleep(0.2)


def _bare_timer(boundaries: list[datetime], woke_late: list[float]) -> None:
    for boundary in boundaries:
        threading.Event().wait(max(0.0, boundary.timestamp() - time.time()))
        woke_late.append(time.time() - boundary.timestamp())


def _p50_p99(values: list[float]) -> tuple[float, float]:
    if len(values) == 1:
        return values[0], values[0]
    return statistics.median(values), statistics.quantiles(values, n=100)[98]


def measure(url: str, minutes: int) -> dict[str, float]:
    store = Store(url)
    store.migrate()
    store.create_app("bench", "pitmaster-demo:latest")
    store.create_job_definition("bench", "tick", ["true"])
    store.create_queue(UNSERVED_QUEUE)
    names = [f"every-minute-{n}" for n in range(SCHEDULES)]
    for name in names:
        body = ScheduleCreate(
            name=name, application="bench", job="tick", queue=UNSERVED_QUEUE, cron="* * * * *"
        )
        schedule_service.create_schedule(store, body)
    with ExitStack() as stack:
        # One after the other: workers starting together on one engine check its
        # identity with each other, which a loaded host can make them miss.
        for number in range(1, WORKERS + 1):
            stack.enter_context(pitmaster("worker", url, queues="default"))
            _wait_for_workers(store, number)
        now = datetime.now(UTC)
        since = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
        boundaries = [since + timedelta(minutes=n) for n in range(minutes)]
        woke_late: list[float] = []
        timer = threading.Thread(target=_bare_timer, args=(boundaries, woke_late))
        timer.start()
        # Wait out the ticks measured, and a few seconds for the last one to be made.
        end = since + timedelta(minutes=minutes - 1, seconds=5)
        time.sleep(max(0.0, (end - now).total_seconds()))
        timer.join()
    late = _lateness(store, names, since)
    store.close()
    if len(late) != SCHEDULES * minutes:
        raise SystemExit(f"{len(late)} executions for {SCHEDULES * minutes} ticks")
    p50, p99 = _p50_p99(late)
    timer_p50, timer_p99 = _p50_p99(woke_late)
    return {
        "ticks": len(late),
        # The earliest is how late a worker woke; the rest adds the ticks made before each.
        "earliest": min(late),
        "p50": p50,
        "p99": p99,
        "timer_p50": timer_p50,
        "timer_p99": timer_p99,
    }


def run(admin_url: str, directory: Path, quick: bool) -> dict[str, dict[str, float]]:
    minutes = 1 if quick else 3
    results = {}
    for kind in ("sqlite", "postgresql"):
        with database(kind, admin_url, directory) as url:
            results[kind] = measure(url, minutes)
    return results


if __name__ == "__main__":
    import tempfile

    from bench.common import prepare

    with tempfile.TemporaryDirectory() as temporary:
        print(run(prepare(), Path(temporary), quick=True))
