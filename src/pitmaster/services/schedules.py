"""Schedules: creating and changing them, pausing, resuming, and running one now.

Ticking them is the worker's (``worker/scheduler.py``); these are the
operations the API, the console and the CLI share.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pitmaster.cron import Cron
from pitmaster.errors import InvalidInput, TooLarge
from pitmaster.models import MAX_MESSAGE_BYTES, MAX_MESSAGE_DEPTH, Execution, json_depth
from pitmaster.schedules import Schedule
from pitmaster.services.executions import Wakeup, message_size
from pitmaster.services.inputs import ScheduleCreate, ScheduleUpdate
from pitmaster.store.schedules import NewSchedule
from pitmaster.store.store import Store

logger = logging.getLogger(__name__)

NEXT_RUNS_SHOWN = 5


def create_schedule(store: Store, body: ScheduleCreate) -> Schedule:
    """A new schedule; its first tick is the expression's next one from now."""
    cron = Cron(body.cron, body.timezone)
    _check_message(body.message)
    schedule = store.create_schedule(
        NewSchedule(
            name=body.name,
            description=body.description,
            application=body.application,
            job=body.job,
            queue=body.queue,
            message=body.message,
            cron=body.cron,
            timezone=body.timezone,
            missed_ticks=body.missed_ticks,
            catch_up_limit=body.catch_up_limit,
            paused=body.paused,
            next_tick=cron.next_tick(store.now()),
        )
    )
    logger.info("schedule %s created: %s (%s)", schedule.name, schedule.cron, schedule.timezone)
    return schedule


def update_schedule(store: Store, name: str, body: ScheduleUpdate) -> Schedule:
    """Change what is given; a new expression or time zone starts from its next tick."""
    changes: dict[str, Any] = body.changes()
    if "message" in body.model_fields_set:
        changes["message"] = body.message
        _check_message(body.message)
    if "cron" in changes or "timezone" in changes:
        current = store.get_schedule(name)
        cron = Cron(changes.get("cron", current.cron), changes.get("timezone", current.timezone))
        changes["next_tick"] = cron.next_tick(store.now())
    schedule = store.update_schedule(name, changes)
    logger.info("schedule %s updated (%s)", name, ", ".join(sorted(changes)))
    return schedule


def delete_schedule(store: Store, name: str) -> None:
    """Delete a schedule; the executions it made stay."""
    store.delete_schedule(name)
    logger.info("schedule %s deleted", name)


def pause_schedule(store: Store, name: str) -> Schedule:
    schedule = store.set_schedule_paused(name, True)
    logger.info("schedule %s paused", name)
    return schedule


def resume_schedule(store: Store, name: str) -> Schedule:
    """Resume from the next tick after now: ticks that fell while paused do not run."""
    current = store.get_schedule(name)
    schedule = store.set_schedule_paused(name, False, current.parsed.next_tick(store.now()))
    logger.info("schedule %s resumed; next tick %s", name, schedule.next_tick.isoformat())
    return schedule


def run_now(store: Store, wakeup: Wakeup, name: str) -> Execution:
    """Enqueue the schedule's job now, once; its ticks go on as before."""
    execution = store.run_schedule_now(name)
    logger.info("schedule %s run now: %s", name, execution.message_id)
    if wakeup is not None:
        wakeup()
    return execution


def next_runs(store: Store, schedule: Schedule, count: int = NEXT_RUNS_SHOWN) -> list[datetime]:
    """When it runs next (none while paused)."""
    return schedule.upcoming(store.now(), count)


def _check_message(message: Any) -> None:
    depth = json_depth(message)
    if depth > MAX_MESSAGE_DEPTH:
        raise InvalidInput(f"message is nested {depth} levels deep; at most {MAX_MESSAGE_DEPTH}")
    size = message_size(message)
    if size > MAX_MESSAGE_BYTES:
        raise TooLarge(f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}")
