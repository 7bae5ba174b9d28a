"""Ticking due schedules: the worker's scheduler loop asks this what is due and when to wake.

Any number of workers tick at once; the store's compare-and-set lets one of
them make each tick's executions (``store/schedules.py``).
"""

from __future__ import annotations

import logging

from pitmaster.cron import plan_ticks
from pitmaster.errors import PitmasterError
from pitmaster.schedules import TickResult
from pitmaster.store.store import Store

logger = logging.getLogger(__name__)

# The scheduler wakes at least this often, to see schedules made or changed elsewhere.
MAX_SLEEP_SECONDS = 10.0


class Scheduler:
    def __init__(self, store: Store) -> None:
        self._store = store

    def tick_due(self) -> list[TickResult]:
        """Tick every schedule due now; what this worker made (other workers' ticks left out)."""
        now = self._store.now()
        made = []
        for schedule in self._store.due_schedules(now):
            try:
                plan = plan_ticks(
                    schedule.parsed,
                    schedule.next_tick,
                    now,
                    policy=schedule.missed_ticks,
                    catch_up_limit=schedule.catch_up_limit,
                )
                # Every worker wakes on a notification: one for the pass, not one a tick.
                result = self._store.tick_schedule(schedule, plan, notify=False)
            except PitmasterError as exc:  # one broken schedule must not stop the others
                logger.warning("schedule %s: tick failed: %s", schedule.name, exc)
                continue
            if result.won:
                made.append(result)
                if plan.missed:
                    logger.info(
                        "schedule %s: %d ticks were missed (%s); ran %d",
                        schedule.name,
                        plan.missed,
                        schedule.missed_ticks.value,
                        len(plan.run),
                    )
                for message_id in result.message_ids:
                    logger.info("schedule %s: enqueued %s", schedule.name, message_id)
        if any(result.message_ids for result in made):
            self._store.notify_work()
        return made

    def seconds_until_due(self) -> float:
        """How long until the next tick of any schedule (at most MAX_SLEEP_SECONDS)."""
        due = self._store.next_schedule_due()
        if due is None:
            return MAX_SLEEP_SECONDS
        wait = (due - self._store.now()).total_seconds()
        return min(max(wait, 0.0), MAX_SLEEP_SECONDS)
