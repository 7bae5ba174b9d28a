"""When a schedule's ticks fall, and which of them run after a gap: pure functions, no clock.

Cron expressions are read by ``cronsim`` (5 fields, plus the ``@hourly``-style
shortcuts expanded here). Ticks are computed in the schedule's IANA time zone
on *wall-clock* times, then turned into UTC instants:

- a local time that does not exist (the hour skipped when clocks go forward)
  is skipped: ``30 2 * * *`` in Europe/Berlin does not run on the last Sunday
  of March;
- a local time that occurs twice (the hour repeated when clocks go back) runs
  once, at its first occurrence.

Every function takes the moment it is asked about (``now``, ``after``); none
reads a clock, so tests can walk a schedule through any day of the year.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from pitmaster.errors import InvalidInput

SHORTCUTS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
CRON_FIELDS = 5
# A tick more than this late when its schedule is ticked was missed: the
# missed-tick policy decides whether it still runs. A tick less late is on time.
MISSED_AFTER = timedelta(seconds=60)
# The most ticks of one schedule looked at in one go; a longer gap counts as this many.
MAX_TICKS_LOOKED_AT = 1000
DEFAULT_CATCH_UP_LIMIT = 10
MAX_CATCH_UP_LIMIT = 100


class MissedTicks(StrEnum):
    """What runs for ticks that were missed (everything was down when they fell)."""

    SKIP = "skip"  # none of them: the schedule goes on from its next tick
    ONCE = "once"  # one run, for the latest of them
    ALL = "all"  # each of them, the latest ``catch_up_limit``


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression in a time zone."""

    expression: str
    timezone: str

    def __post_init__(self) -> None:
        self._zone()
        try:
            CronSim(self._fields(), datetime(2000, 1, 1))
        except (CronSimError, ValueError) as exc:
            raise InvalidInput(f"cron expression {self.expression!r} is not valid: {exc}") from exc

    def _fields(self) -> str:
        text = " ".join(self.expression.split())
        if text.startswith("@"):
            if text.lower() not in SHORTCUTS:
                raise InvalidInput(
                    f"cron expression {self.expression!r}: the shortcuts are "
                    + ", ".join(SHORTCUTS)
                )
            return SHORTCUTS[text.lower()]
        if len(text.split()) != CRON_FIELDS:
            raise InvalidInput(
                f"cron expression {self.expression!r} must have 5 fields "
                "(minute hour day-of-month month day-of-week) or be a shortcut such as @hourly"
            )
        return text

    def _zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidInput(f"time zone {self.timezone!r} is not an IANA time zone") from exc

    def ticks_after(self, after: datetime) -> Iterator[datetime]:
        """The ticks strictly after ``after``, in order, as UTC instants."""
        zone = self._zone()
        local = after.astimezone(zone).replace(tzinfo=None)
        for wall in CronSim(self._fields(), local):
            instant = _instant(wall, zone)
            if instant is not None and instant > after:
                yield instant

    def ticks_before(self, before: datetime) -> Iterator[datetime]:
        """The ticks at or before ``before``, latest first, as UTC instants."""
        zone = self._zone()
        # cronsim's reverse walk starts strictly before its start: start one second on.
        local = (before + timedelta(seconds=1)).astimezone(zone).replace(tzinfo=None)
        for wall in CronSim(self._fields(), local.replace(microsecond=0), reverse=True):
            instant = _instant(wall, zone)
            if instant is not None and instant <= before:
                yield instant

    def next_tick(self, after: datetime) -> datetime:
        return next(self.ticks_after(after))

    def next_ticks(self, after: datetime, count: int) -> list[datetime]:
        return list(islice(self.ticks_after(after), count))


def _instant(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a local wall-clock time: None if it does not exist that day,
    the first of the two if it occurs twice (``fold=0``)."""
    aware = wall.replace(tzinfo=zone, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None  # skipped by a clock going forward
    return instant


@dataclass(frozen=True)
class TickPlan:
    """What ticking a schedule does: the ticks to run now, oldest first, and its next tick."""

    run: tuple[datetime, ...]
    next_tick: datetime
    missed: int  # ticks that were missed, run or not


def plan_ticks(
    cron: Cron,
    next_tick: datetime,
    now: datetime,
    *,
    policy: MissedTicks = MissedTicks.ONCE,
    catch_up_limit: int = DEFAULT_CATCH_UP_LIMIT,
    missed_after: timedelta = MISSED_AFTER,
) -> TickPlan:
    """The ticks due at ``now`` for a schedule whose next tick is ``next_tick``.

    A tick at most ``missed_after`` late is on time and always runs. Older ones
    were missed: ``skip`` runs none, ``once`` runs the latest of them unless a tick
    on time runs anyway, ``all`` runs each of the latest ``catch_up_limit``.
    """
    after = cron.next_tick(now)
    if next_tick > now:
        return TickPlan(run=(), next_tick=next_tick, missed=0)
    due: list[datetime] = []
    for tick in islice(cron.ticks_before(now), MAX_TICKS_LOOKED_AT):
        if tick < next_tick:
            break
        due.append(tick)
    due.reverse()
    on_time = [tick for tick in due if now - tick <= missed_after]
    missed = [tick for tick in due if now - tick > missed_after]
    if policy is MissedTicks.SKIP:
        chosen = on_time
    elif policy is MissedTicks.ONCE:
        chosen = on_time or missed[-1:]
    else:
        chosen = missed[-catch_up_limit:] + on_time if catch_up_limit > 0 else on_time
    return TickPlan(run=tuple(chosen), next_tick=after, missed=len(missed))
