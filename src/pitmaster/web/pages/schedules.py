"""Schedules (admins): the list, one with its next run times and executions, and changing them."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from pitmaster.cron import DEFAULT_CATCH_UP_LIMIT, MissedTicks
from pitmaster.errors import Conflict, InvalidInput, NotFound
from pitmaster.http_common.deps import ServicesDep
from pitmaster.http_common.validation import describe_validation_error
from pitmaster.models import ExecutionFilter
from pitmaster.schedules import Schedule
from pitmaster.services import schedules
from pitmaster.services.inputs import ScheduleCreate, ScheduleUpdate
from pitmaster.web.forms import Form, FormInvalid
from pitmaster.web.pages import common
from pitmaster.web.pages.common import (
    PostedForm,
    admin_router,
    errors_of,
    redirect,
    render,
    status_of,
)

logger = logging.getLogger(__name__)

_FIELDS = ("application", "job", "queue", "cron", "timezone", "missed_ticks", "description")


def _path(name: str, *rest: str) -> str:
    return "/".join(["/schedules", quote(name, safe=""), *rest])


def _form_data(form: Form) -> dict[str, Any]:
    data: dict[str, Any] = {field: form.get(field).strip() for field in _FIELDS}
    errors = []
    limit = form.get("catch_up_limit").strip()
    try:
        data["catch_up_limit"] = int(limit) if limit else DEFAULT_CATCH_UP_LIMIT
    except ValueError:
        errors.append(f"catch-up limit must be a whole number (got {limit!r})")
    try:
        data["message"] = json.loads(form.get("message") or "{}")
    except json.JSONDecodeError as exc:
        errors.append(f"message is not valid JSON: {exc}")
    if errors:
        raise FormInvalid(errors)
    return data


def _validated(model: type[ScheduleCreate] | type[ScheduleUpdate], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FormInvalid([describe_validation_error(error) for error in exc.errors()]) from exc


def _values(schedule: Schedule) -> dict[str, Any]:
    return {field: getattr(schedule, field) for field in _FIELDS} | {
        "message": json.dumps(schedule.message),
        "catch_up_limit": schedule.catch_up_limit,
        "missed_ticks": schedule.missed_ticks.value,
    }


def _form(
    request: Request,
    status_code: int,
    schedule: Schedule | None,
    values: dict[str, Any],
    errors: list[str],
) -> HTMLResponse:
    return render(
        request,
        "schedule_form.html",
        status_code,
        schedule=schedule,
        values=values,
        errors=errors,
        policies=[policy.value for policy in MissedTicks],
    )


@admin_router.get("/schedules", response_class=HTMLResponse)
def schedules_index(request: Request, services: ServicesDep, after: str = "") -> HTMLResponse:
    store = services.store
    page = store.list_schedules(common.NAMES_PAGE_SIZE, after or None)
    next_url = common.next_page("/schedules", page, page[-1].name) if page else None
    return render(
        request,
        "schedules.html",
        schedules=page,
        next_runs={s.name: schedules.next_runs(store, s, 1) for s in page},
        next_url=next_url,
    )


@admin_router.get("/schedules/new", response_class=HTMLResponse)
def schedule_new(request: Request) -> HTMLResponse:
    defaults = {"queue": "default", "timezone": "UTC", "missed_ticks": "once", "message": "{}"}
    return _form(request, 200, None, defaults | {"catch_up_limit": DEFAULT_CATCH_UP_LIMIT}, [])


@admin_router.post("/schedules", response_class=HTMLResponse)
def schedule_create(request: Request, form: PostedForm, services: ServicesDep) -> Response:
    try:
        data = _form_data(form) | {"name": form.get("name").strip()}
        data["paused"] = form.get("paused") == "on"
        body = _validated(ScheduleCreate, data)
        schedules.create_schedule(services.store, body)
    except (FormInvalid, Conflict, InvalidInput, NotFound) as error:
        return _form(request, status_of(error), None, form.as_dict(), errors_of(error))
    return redirect(_path(body.name))


@admin_router.get("/schedules/{name}", response_class=HTMLResponse)
def schedule_show(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    store = services.store
    schedule = store.get_schedule(name)
    made = store.list_executions(ExecutionFilter(schedule_id=schedule.id), limit=20).items
    return render(
        request,
        "schedule.html",
        schedule=schedule,
        next_runs=schedules.next_runs(store, schedule),
        executions=made,
    )


@admin_router.get("/schedules/{name}/edit", response_class=HTMLResponse)
def schedule_edit(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    schedule = services.store.get_schedule(name)
    return _form(request, 200, schedule, _values(schedule), [])


@admin_router.post("/schedules/{name}/edit", response_class=HTMLResponse)
def schedule_update(
    request: Request, name: str, form: PostedForm, services: ServicesDep
) -> Response:
    schedule = services.store.get_schedule(name)
    try:
        body = _validated(ScheduleUpdate, _form_data(form))
        schedules.update_schedule(services.store, name, body)
    except (FormInvalid, Conflict, InvalidInput, NotFound) as error:
        return _form(request, status_of(error), schedule, form.as_dict(), errors_of(error))
    return redirect(_path(name))


@admin_router.post("/schedules/{name}/pause")
def schedule_pause(name: str, _form: PostedForm, services: ServicesDep) -> Response:
    schedules.pause_schedule(services.store, name)
    return redirect(_path(name))


@admin_router.post("/schedules/{name}/resume")
def schedule_resume(name: str, _form: PostedForm, services: ServicesDep) -> Response:
    schedules.resume_schedule(services.store, name)
    return redirect(_path(name))


@admin_router.post("/schedules/{name}/run")
def schedule_run(name: str, _form: PostedForm, services: ServicesDep) -> Response:
    execution = schedules.run_now(services.store, services.wakeup, name)
    return redirect(f"/job_executions/{quote(execution.message_id, safe='')}")


@admin_router.post("/schedules/{name}/delete")
def schedule_delete(name: str, _form: PostedForm, services: ServicesDep) -> Response:
    schedules.delete_schedule(services.store, name)
    return redirect("/schedules")
