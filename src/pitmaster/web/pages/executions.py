"""Executions: the filtered list, bulk retry, one execution with its live output, retry, cancel."""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from pitmaster.errors import InvalidInput
from pitmaster.http_common.deps import ServicesDep
from pitmaster.models import ExecutionFilter, Status
from pitmaster.services import executions
from pitmaster.services.live_output import ReadersBusy
from pitmaster.web import views
from pitmaster.web.output import clean_output, format_message
from pitmaster.web.pages.common import (
    PAGE_SIZE,
    PostedForm,
    redirect,
    render,
    router,
)
from pitmaster.web.sessions import ConsoleCallerDep

logger = logging.getLogger(__name__)


# The digits of the largest execution id (a signed 64-bit integer).
_ID_MAX_DIGITS = 19
_ATTEMPT_NUMBER_MAX = 2**31 - 1  # attempts.number is a 32-bit integer


def _filter_of(application: str, job: str, queue: str, status: str) -> ExecutionFilter:
    try:
        status_value = Status(status) if status else None
    except ValueError as exc:
        raise InvalidInput(f"status must be one of {[s.value for s in Status]}") from exc
    return ExecutionFilter(
        application=application or None, job=job or None, queue=queue or None, status=status_value
    )


@router.get("/job_executions", response_class=HTMLResponse)
def executions_index(  # noqa: PLR0913, PLR0917 -- one parameter per query parameter of the page
    request: Request,
    services: ServicesDep,
    caller: ConsoleCallerDep,
    application: str = "",
    job: str = "",
    queue: str = "",
    status: str = "",
    cursor: str = "",
    retried: int | None = None,
    remaining: int | None = None,
    after_id: int | None = None,
) -> HTMLResponse:
    where = _filter_of(application, job, queue, status)
    page = executions.list_page(services.store, caller, where, cursor or None, PAGE_SIZE)
    filters = {"application": application, "job": job, "queue": queue, "status": status}
    given = {name: value for name, value in filters.items() if value}
    next_url = None
    if page.next_cursor is not None:
        next_url = "/job_executions?" + urlencode({**given, "cursor": page.next_cursor})
    return render(
        request,
        "executions.html",
        executions=page.items,
        filters=filters,
        next_url=next_url,
        first_url="/job_executions?" + urlencode(given) if cursor else None,
        apps=[app for app in services.store.list_apps() if caller.may_see(app.name)],
        # Queues are admin business (the API answers 403 for them): an app sees none.
        queues=services.store.list_queues() if caller.is_admin else [],
        statuses=[s.value for s in Status],
        retried=retried,
        remaining=remaining,
        after_id=after_id if remaining else None,
    )


@router.post("/job_executions/retries")
def executions_retry_all(
    form: PostedForm, services: ServicesDep, caller: ConsoleCallerDep
) -> Response:
    """Retry every failed execution matching the list's filter (other statuses: as asked)."""
    status = form.get("status") or Status.FAILED.value
    where = _filter_of(form.get("application"), form.get("job"), form.get("queue"), status)
    after = form.get("after_id") or ""
    if after and not (after.isascii() and after.isdigit() and len(after) <= _ID_MAX_DIGITS):
        raise InvalidInput("after_id must be an execution id")
    done = executions.retry_matching(
        services.store, services.wakeup, caller, where, after_id=int(after) if after else None
    )
    retried, remaining, next_after_id = done.retried, done.remaining, done.next_after_id
    given = {name: form.get(name) for name in ("application", "job", "queue") if form.get(name)} | {
        "status": status,
        "retried": str(retried),
    }
    if next_after_id is not None:
        given |= {"remaining": str(remaining), "after_id": str(next_after_id)}
    return redirect("/job_executions?" + urlencode(given))


@router.get("/job_executions/{message_id}", response_class=HTMLResponse)
def execution_show(
    request: Request, message_id: str, services: ServicesDep, caller: ConsoleCallerDep
) -> HTMLResponse:
    view = executions.read(services.store, services.settings, caller, message_id)
    output = services.live_output.running_output(view.attempts, wait=True)
    return render(
        request,
        "execution.html",
        execution=view.execution,
        attempts=view.attempts,
        live=views.live_state(view, output),
        message=format_message(view.execution.message),
        notifications=services.store.notifications.notifications_of(view.execution.message_id),
    )


@router.get("/job_executions/{message_id}/attempts/{number}", response_class=HTMLResponse)
def attempt_show(
    request: Request,
    message_id: str,
    number: Annotated[int, Path(ge=0, le=_ATTEMPT_NUMBER_MAX)],
    services: ServicesDep,
    caller: ConsoleCallerDep,
) -> HTMLResponse:
    """One attempt's stored output: what the execution page no longer shows after a retry."""
    view = executions.read_attempt(services.store, caller, message_id, number)
    attempt = view.attempt
    return render(
        request,
        "attempt.html",
        execution=view.execution,
        attempt=attempt,
        label=views.attempt_label(attempt),
        facts=views.attempt_facts(attempt),
        output_note=views.attempt_output_note(attempt),
        stdout=clean_output(attempt.stdout),
        stderr=clean_output(attempt.stderr),
    )


LIVE_RETRY_AFTER_SECONDS = 2


@router.get("/job_executions/{message_id}/live.json")
def execution_live(
    message_id: str, services: ServicesDep, caller: ConsoleCallerDep
) -> JSONResponse:
    """The part of the execution page that changes while it runs, for console.js."""
    view = executions.read(services.store, services.settings, caller, message_id)
    try:
        output = services.live_output.running_output(view.attempts)
    except ReadersBusy:
        return JSONResponse(
            {"error": "too many live output reads under way; retry shortly"},
            status_code=429,
            headers={"Retry-After": str(LIVE_RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
        )
    return JSONResponse(views.live_state(view, output), headers={"Cache-Control": "no-store"})


@router.post("/job_executions/{message_id}/retry")
def execution_retry(
    message_id: str, _form: PostedForm, services: ServicesDep, caller: ConsoleCallerDep
) -> Response:
    found = executions.find(services.store, caller, message_id)
    executions.retry(services.store, services.wakeup, caller, found.message_id)
    return redirect(f"/job_executions/{quote(found.message_id, safe='')}")


@router.post("/job_executions/{message_id}/cancel")
def execution_cancel(
    message_id: str, _form: PostedForm, services: ServicesDep, caller: ConsoleCallerDep
) -> Response:
    execution = executions.cancel(services.store, caller, message_id)
    return redirect(f"/job_executions/{quote(execution.message_id, safe='')}")
