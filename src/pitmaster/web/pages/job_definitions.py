"""Job definitions: every app's, one with its charts, and making, changing or deleting one."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from pitmaster.errors import Conflict, InvalidInput
from pitmaster.http_common.deps import ServicesDep
from pitmaster.models import ExecutionFilter
from pitmaster.services import catalog
from pitmaster.web import forms, views
from pitmaster.web.forms import FormInvalid
from pitmaster.web.pages import common
from pitmaster.web.pages.common import (
    PostedForm,
    admin_router,
    check_app,
    errors_of,
    next_page,
    redirect,
    render,
    router,
    status_of,
)
from pitmaster.web.sessions import ConsoleCallerDep

logger = logging.getLogger(__name__)


@router.get("/job_definitions", response_class=HTMLResponse)
def job_definitions_index(
    request: Request, services: ServicesDep, caller: ConsoleCallerDep, after: str = ""
) -> HTMLResponse:
    """Every app's job definitions; ``after`` is the ``app/job`` the page before ended with."""
    app, _, job = after.partition("/")
    if caller.app is None:
        page = services.store.list_all_job_definitions(
            common.NAMES_PAGE_SIZE, (app, job) if after else None
        )
    else:  # an app pages through its own definitions only
        mine = app == caller.app and after
        page = services.store.list_job_definitions(
            caller.app, common.NAMES_PAGE_SIZE, job if mine else None
        )
    next_url = None
    if page:
        last = page[-1]
        next_url = next_page("/job_definitions", page, f"{last.app}/{last.job}")
    return render(request, "job_definitions.html", definitions=page, next_url=next_url)


def _definition_form(  # noqa: PLR0913, PLR0917 -- what the form template shows
    request: Request,
    status_code: int,
    app: str,
    definition: Any,
    values: dict[str, Any],
    errors: list[str],
    retry_on: list[str] | None,
) -> HTMLResponse:
    return render(
        request,
        "job_definition_form.html",
        status_code,
        app_name=app,
        definition=definition,
        values=values,
        errors=errors,
        endings=forms.ENDINGS,
        retry_on=retry_on,
    )


@admin_router.get("/job_definitions/new", response_class=HTMLResponse)
def job_definition_new(request: Request, services: ServicesDep, app: str = "") -> HTMLResponse:
    services.store.get_app(app)
    defaults = catalog.new_job_definition_values()
    return _definition_form(request, 200, app, None, defaults, [], None)


@admin_router.post("/job_definitions", response_class=HTMLResponse)
def job_definition_create(request: Request, form: PostedForm, services: ServicesDep) -> Response:
    app = form.get("app")
    services.store.get_app(app)
    try:
        body = forms.job_definition_create(form)
        catalog.create_job_definition(services.store, app, body)
    except (FormInvalid, Conflict, InvalidInput) as error:
        return _definition_form(
            request,
            status_of(error),
            app,
            None,
            form.as_dict(),
            errors_of(error),
            form.all("retry_on") or None,
        )
    return redirect(f"/job_definitions/{quote(app, safe='')}/{quote(body.job, safe='')}")


@router.get("/job_definitions/{app}/{job}", response_class=HTMLResponse)
def job_definition_show(
    request: Request, app: str, job: str, services: ServicesDep, caller: ConsoleCallerDep
) -> HTMLResponse:
    check_app(caller, app)
    store = services.store
    definition = store.get_job_definition(app, job)
    now = store.now()
    day, week = views.window(now, 23), views.window(now, 24 * 7 - 1)
    app_id = store.get_app(app).id
    buckets = store.stats.endings_per_hour(app_id, job, day.replace(minute=0, second=0))
    weekly = store.stats.endings_per_hour(app_id, job, week.replace(minute=0, second=0))
    return render(
        request,
        "job_definition.html",
        definition=definition,
        executions=store.list_executions(ExecutionFilter(app_id=app_id, job=job), limit=20).items,
        day_charts=views.job_charts(buckets, day, now, "last 24 hours"),
        week_charts=views.job_charts(weekly, week, now, "last 7 days"),
    )


def _definition_values(definition: Any) -> dict[str, Any]:
    def blank(value: Any) -> Any:
        return "" if value is None else value

    return {
        "command": "\n".join(definition.command),
        "description": definition.description,
        "retry_limit": definition.retry_limit,
        "base_delay": definition.base_delay,
        "max_delay": blank(definition.max_delay),
        "jitter": "on" if definition.jitter else "",
        "retry_exit_codes": ", ".join(str(c) for c in definition.retry_exit_codes or ()),
        "timeout_seconds": blank(definition.timeout_seconds),
        "stop_grace_seconds": definition.stop_grace_seconds,
        "memory": blank(definition.memory),
        "cpus": blank(definition.cpus),
        "pids_limit": blank(definition.pids_limit),
        "network": blank(definition.network),
    }


@admin_router.get("/job_definitions/{app}/{job}/edit", response_class=HTMLResponse)
def job_definition_edit(
    request: Request, app: str, job: str, services: ServicesDep
) -> HTMLResponse:
    definition = services.store.get_job_definition(app, job)
    retry_on = list(definition.retry_on) if definition.retry_on is not None else None
    return _definition_form(
        request, 200, app, definition, _definition_values(definition), [], retry_on
    )


@admin_router.post("/job_definitions/{app}/{job}/edit", response_class=HTMLResponse)
def job_definition_update(
    request: Request, app: str, job: str, form: PostedForm, services: ServicesDep
) -> Response:
    definition = services.store.get_job_definition(app, job)
    try:
        changes = forms.job_definition_update(form)
        catalog.update_job_definition(services.store, app, job, changes)
    except (FormInvalid, InvalidInput) as error:
        return _definition_form(
            request,
            status_of(error),
            app,
            definition,
            form.as_dict(),
            errors_of(error),
            form.all("retry_on") or None,
        )
    return redirect(f"/job_definitions/{quote(app, safe='')}/{quote(job, safe='')}")


@admin_router.post("/job_definitions/{app}/{job}/delete")
def job_definition_delete(app: str, job: str, _form: PostedForm, services: ServicesDep) -> Response:
    catalog.delete_job_definition(services.store, app, job)
    return redirect(f"/apps/{quote(app, safe='')}")
