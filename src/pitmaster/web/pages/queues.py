"""One queue: its work, limit, wait and workers; making, changing or deleting a queue."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from pitmaster.errors import Conflict, InvalidInput
from pitmaster.http_common.deps import Services, ServicesDep
from pitmaster.models import DEFAULT_QUEUE, ExecutionFilter
from pitmaster.services import catalog, executions, workers
from pitmaster.web import forms, monitoring, views
from pitmaster.web.forms import FormInvalid
from pitmaster.web.pages import common
from pitmaster.web.pages.common import (
    PostedForm,
    admin_router,
    errors_of,
    redirect,
    render,
    status_of,
)

# The queue page's wait percentiles read at most this many of the last day's executions.
RECENT_SAMPLE = 5_000


@admin_router.get("/job_queues/new", response_class=HTMLResponse)
def queue_new(request: Request) -> HTMLResponse:
    return render(request, "queue_form.html", queue=None, values={}, errors=[])


@admin_router.post("/job_queues", response_class=HTMLResponse)
def queue_create(request: Request, form: PostedForm, services: ServicesDep) -> Response:
    try:
        body = forms.queue_create(form)
        catalog.create_queue(
            services.store, body.name, body.description, body.max_concurrent_executions
        )
    except (FormInvalid, Conflict, InvalidInput) as error:
        return render(
            request,
            "queue_form.html",
            status_of(error),
            queue=None,
            values=form.as_dict(),
            errors=errors_of(error),
        )
    return redirect(f"/job_queues/{quote(body.name, safe='')}")


@admin_router.get("/job_queues/{name}", response_class=HTMLResponse)
def queue_show(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    return _queue_page(request, services, name)


def _queue_page(
    request: Request,
    services: Services,
    name: str,
    status_code: int = 200,
    errors: list[str] | None = None,
) -> HTMLResponse:
    store = services.store
    (summary,) = store.stats.queue_summaries(only=name)
    now = store.now()
    reason = None
    if summary.oldest_pending is not None:
        reason = executions.explain_pending(
            store, services.settings, summary.oldest_pending, name_workers=True
        )
    recent = [
        e
        for e in store.stats.recent_executions(views.window(now, 24), RECENT_SAMPLE)
        if e.queue == name
    ]
    serving = [
        view
        for view in workers.list_workers(store, services.settings, common.NAMES_PAGE_SIZE)
        if view.worker.serves(name)
    ]
    return render(
        request,
        "queue.html",
        status_code,
        errors=errors or [],
        summary=summary,
        oldest_age=views.age(summary.oldest_ready_at, now),
        pending_reason=views.waiting_text(summary.oldest_pending, reason),
        waits=monitoring.queue_rows(recent),
        workers=serving,
        executions=store.list_executions(ExecutionFilter(queue=name), limit=20).items,
        global_limit=services.settings.max_concurrent_executions,
        deletable=name != DEFAULT_QUEUE,
    )


def _queue_values(services: Services, name: str) -> dict[str, Any]:
    queue = services.store.get_queue(name)
    return {
        "description": queue.description,
        "max_concurrent_executions": queue.max_concurrent_executions or "",
    }


@admin_router.get("/job_queues/{name}/edit", response_class=HTMLResponse)
def queue_edit(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    queue = services.store.get_queue(name)
    values = _queue_values(services, name)
    return render(request, "queue_form.html", queue=queue, values=values, errors=[])


@admin_router.post("/job_queues/{name}/edit", response_class=HTMLResponse)
def queue_update(request: Request, name: str, form: PostedForm, services: ServicesDep) -> Response:
    queue = services.store.get_queue(name)
    try:
        changes = forms.queue_update(form)
        # An empty limit field means no limit: say so, since an absent field changes nothing.
        changes.setdefault("max_concurrent_executions", None)
        catalog.update_queue(services.store, name, changes)
    except (FormInvalid, InvalidInput) as error:
        return render(
            request,
            "queue_form.html",
            status_of(error),
            queue=queue,
            values=form.as_dict(),
            errors=errors_of(error),
        )
    return redirect(f"/job_queues/{quote(name, safe='')}")


@admin_router.post("/job_queues/{name}/delete", response_class=HTMLResponse)
def queue_delete(request: Request, name: str, _form: PostedForm, services: ServicesDep) -> Response:
    try:
        catalog.delete_queue(services.store, name)
    except (Conflict, InvalidInput) as error:  # it still holds work, or it is the default
        return _queue_page(request, services, name, status_of(error), errors_of(error))
    return redirect("/job_queues")
