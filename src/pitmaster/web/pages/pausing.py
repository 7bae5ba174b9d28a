"""Pausing and resuming queues and apps from the console: each asks to confirm first.

The Pause and Resume buttons lead to a page that says what will happen and
asks again (with the reason, for a pause); only its form changes anything.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse

from pitmaster.errors import InvalidInput
from pitmaster.http_common.deps import Services, ServicesDep
from pitmaster.services import pausing
from pitmaster.services.inputs import PRINTABLE_PATTERN
from pitmaster.web.forms import Form
from pitmaster.web.pages.common import PostedForm, admin_router, redirect, render

MAX_REASON_LENGTH = 500
PRINTABLE = re.compile(PRINTABLE_PATTERN)

Kind = Literal["job_queues", "apps"]
Action = Literal["pause", "resume"]


def _current(services: Services, kind: Kind, name: str) -> tuple[str, str | None]:
    """What is paused (its words), and its pause reason: None when not paused."""
    if kind == "apps":
        app = services.store.get_app(name)
        return f"app {app.name}", app.pause_reason if app.paused_at else None
    queue = services.store.get_queue(name)
    return f"queue {queue.name}", queue.pause_reason if queue.paused_at else None


def _back(kind: Kind, name: str) -> str:
    return f"/apps/{quote(name, safe='')}" if kind == "apps" else "/job_queues"


def _confirm(
    request: Request, services: Services, kind: Kind, name: str, action: Action
) -> HTMLResponse:
    what, reason = _current(services, kind, name)
    return render(
        request,
        "pause_confirm.html",
        what=what,
        action=action,
        paused_reason=reason,
        post_url=f"/{kind}/{quote(name, safe='')}/{action}",
        back_url=_back(kind, name),
    )


# Each path by itself: a pattern such as /{kind}/{name}/{action} would take other pages' paths.


@admin_router.get("/job_queues/{name}/pause", response_class=HTMLResponse)
def queue_pause_confirm(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    return _confirm(request, services, "job_queues", name, "pause")


@admin_router.get("/job_queues/{name}/resume", response_class=HTMLResponse)
def queue_resume_confirm(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    return _confirm(request, services, "job_queues", name, "resume")


@admin_router.get("/apps/{name}/pause", response_class=HTMLResponse)
def app_pause_confirm(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    return _confirm(request, services, "apps", name, "pause")


@admin_router.get("/apps/{name}/resume", response_class=HTMLResponse)
def app_resume_confirm(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    return _confirm(request, services, "apps", name, "resume")


@admin_router.post("/job_queues/{name}/pause")
def queue_pause(name: str, form: PostedForm, services: ServicesDep) -> Response:
    pausing.pause_queue(services.store, name, _reason(form))
    return redirect(_back("job_queues", name))


@admin_router.post("/job_queues/{name}/resume")
def queue_resume(name: str, _form: PostedForm, services: ServicesDep) -> Response:
    pausing.resume_queue(services.store, services.wakeup, name)
    return redirect(_back("job_queues", name))


@admin_router.post("/apps/{name}/pause")
def app_pause(name: str, form: PostedForm, services: ServicesDep) -> Response:
    pausing.pause_app(services.store, name, _reason(form))
    return redirect(_back("apps", name))


@admin_router.post("/apps/{name}/resume")
def app_resume(name: str, _form: PostedForm, services: ServicesDep) -> Response:
    pausing.resume_app(services.store, services.wakeup, name)
    return redirect(_back("apps", name))


def _reason(form: Form) -> str:
    reason = (form.get("reason") or "").strip()
    if len(reason) > MAX_REASON_LENGTH or not PRINTABLE.match(reason):
        raise InvalidInput(
            f"the reason must be printable text of at most {MAX_REASON_LENGTH} characters"
        )
    return reason
