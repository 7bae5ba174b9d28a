"""``/v1/schedules``: cron schedules (admins): manage, pause, resume, run now, next run times.

The executions a schedule made are listed by ``GET /v1/job_executions?schedule=NAME``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import Field

from pitmaster.api.schemas import WITH_BODY, error_responses
from pitmaster.cron import MissedTicks
from pitmaster.http_common.deps import ServicesDep, require_admin
from pitmaster.models import MAX_PAGE_SIZE, NAME_MAX_LENGTH, Status
from pitmaster.schedules import Schedule
from pitmaster.services import schedules
from pitmaster.services.inputs import NAME_PATTERN, ScheduleCreate, ScheduleUpdate
from pitmaster.shown import Shown
from pitmaster.store.store import Store

router = APIRouter(prefix="/v1/schedules", tags=["schedules"], dependencies=[require_admin])

_READ = error_responses(404, 422)
_CHANGE = error_responses(*WITH_BODY, 404, 409)
_ACTION = error_responses(404, 409, 422)


class ScheduleOut(Shown):
    id: int
    name: str
    description: str
    application: str
    job: str
    queue: str
    message: Any
    cron: str
    timezone: str
    missed_ticks: MissedTicks
    catch_up_limit: int
    paused: bool
    next_tick: datetime = Field(description="the next tick to run (UTC)")
    next_runs: list[datetime] = Field(
        default_factory=list, description="the next five run times (UTC); none while paused"
    )
    last_tick: datetime | None
    last_error: str | None = Field(description="why the last tick made no execution, if so")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def shown(cls, store: Store, schedule: Schedule) -> ScheduleOut:
        out = cls.of(schedule)
        out.next_runs = schedules.next_runs(store, schedule)
        return out


class RunNowResponse(Shown):
    message_id: str
    status: Status
    id: int
    scheduled_at: datetime | None


@router.post("", status_code=201, responses=_CHANGE)
def create_schedule(body: ScheduleCreate, services: ServicesDep) -> ScheduleOut:
    """Make a schedule: the app's job runs on the queue with the message at each tick."""
    store = services.store
    return ScheduleOut.shown(store, schedules.create_schedule(store, body))


@router.get("", responses=error_responses(422))
def list_schedules(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    after: Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=NAME_MAX_LENGTH)] = None,
    application: Annotated[
        str | None, Query(pattern=NAME_PATTERN, max_length=NAME_MAX_LENGTH)
    ] = None,
) -> list[ScheduleOut]:
    """Schedules by name; ``after`` is the last name of the page before."""
    store = services.store
    found = store.list_schedules(limit, after, application)
    return [ScheduleOut.shown(store, schedule) for schedule in found]


@router.get("/{name}", responses=_READ)
def get_schedule(name: str, services: ServicesDep) -> ScheduleOut:
    return ScheduleOut.shown(services.store, services.store.get_schedule(name))


@router.patch("/{name}", responses=_CHANGE)
def update_schedule(name: str, body: ScheduleUpdate, services: ServicesDep) -> ScheduleOut:
    """Change what is given; a new cron or time zone starts from its next tick."""
    store = services.store
    return ScheduleOut.shown(store, schedules.update_schedule(store, name, body))


@router.delete("/{name}", status_code=204, responses=_READ)
def delete_schedule(name: str, services: ServicesDep) -> Response:
    """Delete a schedule; the executions it made stay."""
    schedules.delete_schedule(services.store, name)
    return Response(status_code=204)


@router.post("/{name}/pause", responses=_ACTION)
def pause_schedule(name: str, services: ServicesDep) -> ScheduleOut:
    """Stop ticking; ticks while paused never run."""
    store = services.store
    return ScheduleOut.shown(store, schedules.pause_schedule(store, name))


@router.post("/{name}/resume", responses=_ACTION)
def resume_schedule(name: str, services: ServicesDep) -> ScheduleOut:
    """Tick again, from the next tick after now."""
    store = services.store
    return ScheduleOut.shown(store, schedules.resume_schedule(store, name))


@router.post("/{name}/runs", status_code=201, responses=_ACTION)
def run_now(name: str, services: ServicesDep) -> RunNowResponse:
    """Enqueue the schedule's job now, once (paused or not); its ticks go on as before."""
    return RunNowResponse.of(schedules.run_now(services.store, services.wakeup, name))
