"""Schedules on both databases: one execution per tick however many workers tick at once,
a tick that dies midway, the missed-tick policies over a fake clock, pause and run now."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pitmaster.cron import MissedTicks
from pitmaster.models import ExecutionFilter
from pitmaster.services import schedules as schedule_service
from pitmaster.services.inputs import ScheduleCreate, ScheduleUpdate
from pitmaster.store import executions as execution_store
from pitmaster.store import schedules as schedule_store
from pitmaster.store.store import Store
from pitmaster.worker.runner import job_environment
from pitmaster.worker.scheduler import Scheduler

from ..conftest import ManualClock

START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def ticking_clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def scheduled(database_url: str, ticking_clock: ManualClock) -> Iterator[Store]:
    store = Store(database_url, clock=ticking_clock)
    store.migrate()
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "report", ["report"])
    yield store
    store.close()


def _create(store: Store, **fields: object) -> None:
    body = {"name": "nightly", "application": "shop", "job": "report", "cron": "* * * * *"}
    schedule_service.create_schedule(store, ScheduleCreate.model_validate(body | fields))


def _made(store: Store, name: str = "nightly") -> list[datetime]:
    schedule = store.get_schedule(name)
    page = store.list_executions(ExecutionFilter(schedule_id=schedule.id), limit=500)
    return sorted(e.scheduled_at for e in page.items if e.scheduled_at is not None)


def test_given_three_workers_racing_every_tick_then_each_tick_makes_one_execution(
    scheduled: Store, database_url: str, ticking_clock: ManualClock
) -> None:
    # Given a schedule every minute and three workers, each with its own connections.
    _create(scheduled)
    workers = [Store(database_url, clock=ticking_clock) for _ in range(3)]
    try:
        for minute in range(1, 21):
            # When the clock reaches each tick and the three tick at the same moment.
            ticking_clock.now = START + timedelta(minutes=minute, seconds=1)
            barrier = threading.Barrier(len(workers))
            made: list[int] = []
            threads = [
                threading.Thread(target=_tick_together, args=(store, barrier, made))
                for store in workers
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            # Then exactly one of them made the tick's execution.
            assert sum(made) == 1, f"minute {minute}: {made}"
    finally:
        for store in workers:
            store.close()
    ticks = _made(scheduled)
    assert ticks == [START + timedelta(minutes=m) for m in range(1, 21)]


def _tick_together(store: Store, barrier: threading.Barrier, made: list[int]) -> None:
    barrier.wait()
    made.extend(len(result.message_ids) for result in Scheduler(store).tick_due())


def test_given_a_tick_that_dies_midway_then_nothing_is_left_and_the_next_run_makes_one(
    scheduled: Store, ticking_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a due tick, and a worker that dies right after inserting its execution.
    _create(scheduled)
    ticking_clock.now = START + timedelta(minutes=1, seconds=2)
    real_insert = execution_store.insert_pending

    def insert_then_die(*args: object, **kwargs: object) -> object:
        real_insert(*args, **kwargs)  # type: ignore[arg-type]
        raise KeyboardInterrupt("the worker was killed")

    monkeypatch.setattr(schedule_store, "insert_pending", insert_then_die)
    with pytest.raises(KeyboardInterrupt):
        Scheduler(scheduled).tick_due()

    # Then the transaction left nothing: no execution, the tick still due.
    assert _made(scheduled) == []
    assert scheduled.get_schedule("nightly").next_tick == START + timedelta(minutes=1)

    # When another worker ticks, it makes the one execution.
    monkeypatch.setattr(schedule_store, "insert_pending", real_insert)
    Scheduler(scheduled).tick_due()
    Scheduler(scheduled).tick_due()
    assert _made(scheduled) == [START + timedelta(minutes=1)]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (MissedTicks.SKIP, []),
        (MissedTicks.ONCE, [START + timedelta(hours=2)]),
        (MissedTicks.ALL, [START + timedelta(hours=h) for h in (1, 2)]),
    ],
)
def test_given_everything_down_for_hours_when_ticked_then_the_policy_decides(
    scheduled: Store, ticking_clock: ManualClock, policy: MissedTicks, expected: list[datetime]
) -> None:
    # Given an hourly schedule whose first tick is 13:00 and nothing running till 14:30.
    _create(scheduled, cron="0 * * * *", missed_ticks=policy.value)
    ticking_clock.now = START + timedelta(hours=2, minutes=30)

    # When a worker ticks (twice: the second finds nothing due).
    Scheduler(scheduled).tick_due()
    Scheduler(scheduled).tick_due()

    # Then the missed 13:00 and 14:00 ran as the policy says, and 15:00 is next.
    assert _made(scheduled) == expected
    assert scheduled.get_schedule("nightly").next_tick == START + timedelta(hours=3)


def test_given_a_paused_schedule_then_it_ticks_not_and_resumes_from_the_next_tick(
    scheduled: Store, ticking_clock: ManualClock
) -> None:
    _create(scheduled)
    schedule_service.pause_schedule(scheduled, "nightly")
    ticking_clock.now = START + timedelta(minutes=10, seconds=30)
    Scheduler(scheduled).tick_due()
    assert _made(scheduled) == []
    assert scheduled.get_schedule("nightly").upcoming(ticking_clock.now) == []

    resumed = schedule_service.resume_schedule(scheduled, "nightly")

    assert resumed.next_tick == START + timedelta(minutes=11)
    assert schedule_service.next_runs(scheduled, resumed) == [
        START + timedelta(minutes=m) for m in range(11, 16)
    ]


def test_given_run_now_then_one_execution_with_its_time_and_the_ticks_unchanged(
    scheduled: Store, ticking_clock: ManualClock
) -> None:
    _create(scheduled, message={"kind": "daily"})
    execution = schedule_service.run_now(scheduled, None, "nightly")
    assert execution.scheduled_at == ticking_clock.now
    assert execution.message == {"kind": "daily"}
    assert scheduled.get_schedule("nightly").next_tick == START + timedelta(minutes=1)


def test_given_a_scheduled_execution_when_claimed_then_its_job_gets_the_tick_time(
    scheduled: Store, ticking_clock: ManualClock
) -> None:
    _create(scheduled)
    ticking_clock.now = START + timedelta(minutes=1, seconds=3)
    Scheduler(scheduled).tick_due()
    claim = scheduled.claim("worker-1", 60)
    assert claim is not None
    env = job_environment(claim)
    assert env["PITMASTER_SCHEDULED_AT"] == "2026-03-01T12:01:00Z"
    assert env["BARBEQUE_JOB"] == "report"


def test_given_an_edited_expression_then_the_next_tick_follows_it(
    scheduled: Store, ticking_clock: ManualClock
) -> None:
    _create(scheduled)
    updated = schedule_service.update_schedule(
        scheduled, "nightly", ScheduleUpdate(cron="30 3 * * *", timezone="Europe/Berlin")
    )
    assert updated.next_tick == datetime(2026, 3, 2, 2, 30, tzinfo=UTC)


def test_given_the_job_definition_is_gone_then_a_tick_makes_nothing_and_says_why(
    scheduled: Store, ticking_clock: ManualClock
) -> None:
    _create(scheduled)
    scheduled.delete_job_definition("shop", "report")
    ticking_clock.now = START + timedelta(minutes=1, seconds=1)
    Scheduler(scheduled).tick_due()
    schedule = scheduled.get_schedule("nightly")
    assert _made(scheduled) == []
    assert schedule.last_error is not None and "not defined" in schedule.last_error
    assert schedule.next_tick == START + timedelta(minutes=2)
