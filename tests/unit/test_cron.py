"""Tick computation: cron expressions in a time zone, DST, and the missed-tick policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pitmaster.cron import Cron, MissedTicks, plan_ticks
from pitmaster.errors import InvalidInput


def _utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_given_a_shortcut_when_ticks_are_asked_then_it_means_its_five_fields() -> None:
    assert Cron("@hourly", "UTC").next_ticks(_utc(2026, 1, 1, 10, 5), 2) == [
        _utc(2026, 1, 1, 11),
        _utc(2026, 1, 1, 12),
    ]
    assert Cron("@daily", "UTC").next_tick(_utc(2026, 1, 1, 10)) == _utc(2026, 1, 2)


@pytest.mark.parametrize(
    ("expression", "timezone"),
    [
        ("* * * *", "UTC"),
        ("0 0 * * * *", "UTC"),
        ("61 * * * *", "UTC"),
        ("@reboot", "UTC"),
        ("0 0 30 2 *", "UTC"),
        ("* * * * *", "Mars/Olympus"),
        ("* * * * *", "../etc"),
    ],
)
def test_given_a_bad_expression_or_zone_when_parsed_then_it_is_invalid_input(
    expression: str, timezone: str
) -> None:
    with pytest.raises(InvalidInput):
        Cron(expression, timezone)


def test_given_a_tick_at_a_time_spring_forward_skips_then_that_day_has_no_tick() -> None:
    # Given 02:30 every day in Berlin; on 2026-03-29 clocks jump from 02:00 to 03:00.
    cron = Cron("30 2 * * *", "Europe/Berlin")

    # When the ticks around that night are asked for.
    ticks = cron.next_ticks(_utc(2026, 3, 27, 12), 3)

    # Then the 29th has none, and the days around it run at 02:30 local.
    assert ticks == [_utc(2026, 3, 28, 1, 30), _utc(2026, 3, 30, 0, 30), _utc(2026, 3, 31, 0, 30)]


def test_given_a_time_that_fall_back_repeats_then_it_runs_once_at_its_first_occurrence() -> None:
    # Given every 30 minutes in Berlin; on 2026-10-25 02:00-03:00 local happens twice.
    cron = Cron("*/30 * * * *", "Europe/Berlin")

    # When the ticks through that hour are asked for.
    ticks = cron.next_ticks(_utc(2026, 10, 24, 23, 50), 4)

    # Then 02:00 and 02:30 run once each (in summer time), then 03:00 winter time.
    assert ticks == [
        _utc(2026, 10, 25, 0, 0),  # 02:00 CEST
        _utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        _utc(2026, 10, 25, 2, 0),  # 03:00 CET: 02:00 and 02:30 CET are repeats
        _utc(2026, 10, 25, 2, 30),
    ]


def test_given_new_york_daily_at_a_repeated_time_when_clocks_fall_back_then_once() -> None:
    cron = Cron("30 1 * * *", "America/New_York")
    assert cron.next_ticks(_utc(2026, 10, 31, 12), 2) == [
        _utc(2026, 11, 1, 5, 30),  # 01:30 EDT; 01:30 EST an hour later does not run
        _utc(2026, 11, 2, 6, 30),
    ]


def test_given_ticks_before_a_moment_then_latest_first_including_the_moment() -> None:
    cron = Cron("0 * * * *", "UTC")
    ticks = cron.ticks_before(_utc(2026, 1, 1, 12))
    assert [next(ticks), next(ticks)] == [_utc(2026, 1, 1, 12), _utc(2026, 1, 1, 11)]


EVERY_MINUTE = Cron("* * * * *", "UTC")
DOWN_FROM = _utc(2026, 1, 1, 0, 0)  # everything was down from this tick ...
BACK_AT = _utc(2026, 1, 1, 1, 0, 30)  # ... to half a minute past 01:00


def test_given_a_tick_not_yet_due_then_nothing_runs() -> None:
    plan = plan_ticks(EVERY_MINUTE, DOWN_FROM, DOWN_FROM - timedelta(seconds=1))
    assert plan.run == () and plan.next_tick == DOWN_FROM


def test_given_a_tick_a_little_late_then_it_runs_whatever_the_policy() -> None:
    for policy in MissedTicks:
        plan = plan_ticks(EVERY_MINUTE, DOWN_FROM, DOWN_FROM + timedelta(seconds=5), policy=policy)
        assert plan.run == (DOWN_FROM,) and plan.missed == 0
        assert plan.next_tick == DOWN_FROM + timedelta(minutes=1)


def test_given_an_hour_of_missed_ticks_when_skip_then_only_the_tick_on_time_runs() -> None:
    plan = plan_ticks(EVERY_MINUTE, DOWN_FROM, BACK_AT, policy=MissedTicks.SKIP)
    assert plan.run == (_utc(2026, 1, 1, 1, 0),)
    assert plan.missed == 60
    assert plan.next_tick == _utc(2026, 1, 1, 1, 1)


def test_given_an_hour_of_missed_ticks_of_an_hourly_schedule_when_skip_then_none_runs() -> None:
    hourly = Cron("15 * * * *", "UTC")
    plan = plan_ticks(hourly, _utc(2026, 1, 1, 0, 15), BACK_AT, policy=MissedTicks.SKIP)
    assert plan.run == () and plan.missed == 1
    assert plan.next_tick == _utc(2026, 1, 1, 1, 15)


def test_given_missed_ticks_when_once_then_one_catch_up_run_for_the_latest() -> None:
    hourly = Cron("15 * * * *", "UTC")
    plan = plan_ticks(
        hourly, _utc(2026, 1, 1, 0, 15), _utc(2026, 1, 1, 3, 0), policy=MissedTicks.ONCE
    )
    assert plan.run == (_utc(2026, 1, 1, 2, 15),) and plan.missed == 3
    assert plan.next_tick == _utc(2026, 1, 1, 3, 15)


def test_given_missed_ticks_and_one_on_time_when_once_then_only_the_one_on_time_runs() -> None:
    plan = plan_ticks(EVERY_MINUTE, DOWN_FROM, BACK_AT, policy=MissedTicks.ONCE)
    assert plan.run == (_utc(2026, 1, 1, 1, 0),)


def test_given_missed_ticks_when_all_then_each_up_to_the_cap_oldest_first() -> None:
    plan = plan_ticks(EVERY_MINUTE, DOWN_FROM, BACK_AT, policy=MissedTicks.ALL, catch_up_limit=3)
    assert plan.run == (
        _utc(2026, 1, 1, 0, 57),
        _utc(2026, 1, 1, 0, 58),
        _utc(2026, 1, 1, 0, 59),
        _utc(2026, 1, 1, 1, 0),  # on time: not counted against the cap
    )
    assert plan.missed == 60


def test_given_few_missed_ticks_when_all_then_every_one_runs() -> None:
    hourly = Cron("0 * * * *", "UTC")
    plan = plan_ticks(hourly, _utc(2026, 1, 1, 1), _utc(2026, 1, 1, 3, 30), policy=MissedTicks.ALL)
    assert plan.run == (_utc(2026, 1, 1, 1), _utc(2026, 1, 1, 2), _utc(2026, 1, 1, 3))


def test_given_a_clock_that_jumped_back_then_nothing_runs_again() -> None:
    # The schedule's next tick is 01:01 (01:00 ran); the clock now says 00:30.
    plan = plan_ticks(EVERY_MINUTE, _utc(2026, 1, 1, 1, 1), _utc(2026, 1, 1, 0, 30))
    assert plan.run == () and plan.next_tick == _utc(2026, 1, 1, 1, 1)
