"""Apps: the list with their last day, one app, and making, changing or deleting one."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from pitmaster.errors import Conflict, InvalidInput
from pitmaster.http_common.deps import Services, ServicesDep
from pitmaster.models import ExecutionFilter
from pitmaster.services import catalog, workers
from pitmaster.web import forms, health
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

# The home page counts failures up to this many ("1000+"): enough to say things are bad.
FAILURES_CAP = 1000


@router.get("/", response_class=HTMLResponse)
@router.get("/apps", response_class=HTMLResponse)
def apps_index(
    request: Request, services: ServicesDep, caller: ConsoleCallerDep, after: str = ""
) -> HTMLResponse:
    since = services.store.now() - timedelta(hours=24)
    page = services.store.stats.app_summaries(since, common.NAMES_PAGE_SIZE, after or None)
    next_url = next_page(request.url.path, page, page[-1].app.name) if page else None
    summaries = [summary for summary in page if caller.may_see(summary.app.name)]
    # Queues and workers are admin business: an app's session sees its apps only.
    status = _health(services) if caller.is_admin and not after else None
    return render(request, "apps.html", summaries=summaries, next_url=next_url, health=status)


def _health(services: Services) -> health.Health:
    store = services.store
    now = store.now()
    return health.health(
        store.stats.queue_summaries(common.NAMES_PAGE_SIZE),
        workers.list_workers(store, services.settings, common.NAMES_PAGE_SIZE),
        store.stats.failures_since(now - timedelta(hours=1), FAILURES_CAP),
        store.stats.failures_since(now - timedelta(hours=24), FAILURES_CAP),
        FAILURES_CAP,
        now,
    )


@admin_router.get("/apps/new", response_class=HTMLResponse)
def app_new(request: Request) -> HTMLResponse:
    return render(request, "app_form.html", app=None, values={}, errors=[])


@admin_router.post("/apps", response_class=HTMLResponse)
def app_create(request: Request, form: PostedForm, services: ServicesDep) -> Response:
    try:
        body = forms.app_create(form)
        catalog.create_app(services.store, services.settings, body)
    except (FormInvalid, Conflict, InvalidInput) as error:
        return render(
            request,
            "app_form.html",
            status_of(error),
            app=None,
            values=form.as_dict(),
            errors=errors_of(error),
        )
    return redirect(f"/apps/{quote(body.name, safe='')}")


@router.get("/apps/{name}", response_class=HTMLResponse)
def app_show(
    request: Request, name: str, services: ServicesDep, caller: ConsoleCallerDep
) -> HTMLResponse:
    check_app(caller, name)
    app = services.store.get_app(name)
    return render(
        request,
        "app.html",
        app=app,
        definitions=services.store.list_job_definitions(name),
        secrets=services.store.list_secrets(name),
        executions=services.store.list_executions(ExecutionFilter(app_id=app.id), limit=20).items,
    )


def _app_values(services: Services, name: str) -> dict[str, Any]:
    app = services.store.get_app(name)
    return {
        "docker_image": app.docker_image,
        "description": app.description,
        "max_concurrent_executions": app.max_concurrent_executions or "",
    }


@admin_router.get("/apps/{name}/edit", response_class=HTMLResponse)
def app_edit(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    app = services.store.get_app(name)
    return render(request, "app_form.html", app=app, values=_app_values(services, name), errors=[])


@admin_router.post("/apps/{name}/edit", response_class=HTMLResponse)
def app_update(request: Request, name: str, form: PostedForm, services: ServicesDep) -> Response:
    app = services.store.get_app(name)
    try:
        catalog.update_app(services.store, services.settings, name, forms.app_update(form))
    except (FormInvalid, InvalidInput) as error:
        return render(
            request,
            "app_form.html",
            status_of(error),
            app=app,
            values=form.as_dict(),
            errors=errors_of(error),
        )
    return redirect(f"/apps/{quote(name, safe='')}")


@admin_router.post("/apps/{name}/delete")
def app_delete(name: str, _form: PostedForm, services: ServicesDep) -> Response:
    catalog.delete_app(services.store, name)
    return redirect("/")
