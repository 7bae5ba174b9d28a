"""Executions: the filtered list, bulk retry, one execution with its live output, retry, cancel."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from pitmaster.auth import Caller
from pitmaster.errors import InvalidInput, NotFound
from pitmaster.http_common.deps import ServicesDep
from pitmaster.models import (
    RETRYABLE_STATUSES,
    STOP_GRACE_SECONDS,
    Execution,
    ExecutionFilter,
    Status,
)
from pitmaster.services import executions
from pitmaster.services.live_output import ReadersBusy
from pitmaster.store.store import Store
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


# The time ranges the list offers, by the word in its URL.
RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
RANGES |= {"30d": timedelta(days=30)}
_FULL_MESSAGE_ID = 36  # a UUID's length: a search for one opens it
# Pending rows of a page explained one by one (each costs a few queries); the rest say less.
_EXPLAINED_PER_PAGE = 5
# The counts per status are of the newest this many matching executions, so history's
# size does not matter.
STATUS_COUNT_CAP = 5_000


def _filter_of(  # noqa: PLR0913, PLR0917 -- one parameter per filter of the list
    application: str,
    job: str,
    queue: str,
    status: str,
    message_id: str = "",
    created_within: str = "",
    now: datetime | None = None,
) -> ExecutionFilter:
    try:
        status_value = Status(status) if status else None
    except ValueError as exc:
        raise InvalidInput(f"status must be one of {[s.value for s in Status]}") from exc
    if created_within and created_within not in RANGES:
        raise InvalidInput(f"range must be one of {list(RANGES)}")
    since = None
    if created_within:
        since = (now or datetime.now(UTC)) - RANGES[created_within]
    return ExecutionFilter(
        application=application or None,
        job=job or None,
        queue=queue or None,
        status=status_value,
        message_id_prefix=message_id.strip() or None,
        created_from=since,
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
    message_id: str = "",
    created_within: Annotated[str, Query(alias="range")] = "",
    cursor: str = "",
    retried: int | None = None,
    remaining: int | None = None,
    after_id: int | None = None,
) -> Response:
    message_id = message_id.strip()
    if len(message_id) == _FULL_MESSAGE_ID:
        try:  # a whole message_id (an execution's, or a retry's): open it
            found = executions.find(services.store, caller, message_id)
            return redirect(f"/job_executions/{quote(found.message_id, safe='')}")
        except NotFound:
            pass  # say so by listing nothing
    now = services.store.now()
    where = _filter_of(application, job, queue, status, message_id, created_within, now)
    page = executions.list_page(services.store, caller, where, cursor or None, PAGE_SIZE)
    filters = {
        "application": application,
        "job": job,
        "queue": queue,
        "status": status,
        "message_id": message_id,
        "range": created_within,
    }
    given = {name: value for name, value in filters.items() if value}
    next_url = None
    if page.next_cursor is not None:
        next_url = "/job_executions?" + urlencode({**given, "cursor": page.next_cursor})
    # "Retry all" retries the list's status if retryable, else failed; what it would
    # do is asked for (preview.json) only when pressed, so the list does not pay for it.
    retry_status = status if status in {s.value for s in RETRYABLE_STATUSES} else "failed"
    retry_query = {**given, "status": retry_status}
    if after_id and remaining:
        retry_query["after_id"] = str(after_id)
    scoped = caller.scoped(where)
    counts, more = services.store.status_counts(scoped, STATUS_COUNT_CAP) if scoped else ({}, False)
    attempts = services.store.attempt_counts([e.id for e in page.items])
    pending = [e for e in page.items if e.status is Status.PENDING][:_EXPLAINED_PER_PAGE]
    reasons = {
        e.id: views.waiting_text(
            e,
            executions.explain_pending(services.store, services.settings, e, name_workers=False),
        )
        for e in pending
    }
    visible_apps = [app for app in services.store.list_apps() if caller.may_see(app.name)]
    return render(
        request,
        "executions.html",
        retry_status=retry_status,
        retry_preview_url="/job_executions/retries/preview.json?" + urlencode(retry_query),
        executions=page.items,
        rows=[
            views.execution_row(e, attempts.get(e.id, 0), reasons.get(e.id), now)
            for e in page.items
        ],
        counts=[(s.value, counts[s], s.value == status) for s in Status if counts.get(s)],
        counts_window=STATUS_COUNT_CAP if more else None,
        count_url=lambda value: "/job_executions?" + urlencode({**given, "status": value}),
        filters=filters,
        ranges=list(RANGES),
        next_url=next_url,
        first_url="/job_executions?" + urlencode(given) if cursor else None,
        live=not cursor,
        apps=visible_apps,
        jobs=_job_choices(services.store, caller, application, job),
        # Queues are admin business (the API answers 403 for them): an app sees none.
        queues=services.store.list_queues() if caller.is_admin else [],
        statuses=[s.value for s in Status],
        retried=retried,
        remaining=remaining,
        after_id=after_id if remaining else None,
    )


def _job_choices(store: Store, caller: Caller, application: str, chosen: str) -> list[str]:
    """The job names the job filter offers: the chosen app's, or every visible app's."""
    try:
        if application:
            definitions = store.list_job_definitions(application)
        else:
            definitions = store.list_all_job_definitions()
    except NotFound:  # an app deleted since: its name stays in old executions
        definitions = []
    names = {d.job for d in definitions if caller.may_see(d.app)}
    if chosen:
        names.add(chosen)  # a deleted job's executions stay listable
    return sorted(names)


@router.get("/job_executions/retries/preview.json")
def executions_retry_all_preview(  # noqa: PLR0913, PLR0917 -- the list's filter
    services: ServicesDep,
    caller: ConsoleCallerDep,
    application: str = "",
    job: str = "",
    queue: str = "",
    status: str = "failed",
    message_id: str = "",
    created_within: Annotated[str, Query(alias="range")] = "",
    after_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> JSONResponse:
    """What "Retry all" would retry now, for its confirmation ("retry 25 failed ... in 3 apps")."""
    where = _filter_of(
        application, job, queue, status, message_id, created_within, services.store.now()
    )
    preview = executions.preview_retry_matching(services.store, caller, where, after_id=after_id)
    return JSONResponse(
        {"executions": preview.executions, "apps": preview.apps, "summary": preview.summary()},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/job_executions/retries")
def executions_retry_all(
    form: PostedForm, services: ServicesDep, caller: ConsoleCallerDep
) -> Response:
    """Retry every failed execution matching the list's filter (other statuses: as asked)."""
    status = form.get("status") or Status.FAILED.value
    where = _filter_of(
        form.get("application"),
        form.get("job"),
        form.get("queue"),
        status,
        form.get("message_id") or "",
        form.get("range") or "",
        services.store.now(),
    )
    after = form.get("after_id") or ""
    if after and not (after.isascii() and after.isdigit() and len(after) <= _ID_MAX_DIGITS):
        raise InvalidInput("after_id must be an execution id")
    done = executions.retry_matching(
        services.store, services.wakeup, caller, where, after_id=int(after) if after else None
    )
    retried, remaining, next_after_id = done.retried, done.remaining, done.next_after_id
    kept = ("application", "job", "queue", "message_id", "range")
    given = {name: form.get(name) for name in kept if form.get(name)} | {
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
        live=views.live_state(view, output, _stop_grace(services.store, view.execution)),
        # Its app was deleted: history, shown without actions or links to the app's pages.
        deleted_app=view.execution.app_id is None,
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


_STREAMS = ("stdout", "stderr")


def _raw_output(text: str | None, stream: str) -> PlainTextResponse:
    """One stream's stored output as the job wrote it, to save (the page shows it cleaned)."""
    if stream not in _STREAMS:
        raise NotFound(f"no output called {stream!r}: stdout or stderr")
    return PlainTextResponse(
        text or "",
        headers={
            "Content-Disposition": f'attachment; filename="{stream}.txt"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/job_executions/{message_id}/output/{stream}.txt")
def execution_raw_output(
    message_id: str, stream: str, services: ServicesDep, caller: ConsoleCallerDep
) -> PlainTextResponse:
    """The stored output of the attempt the execution page shows (its latest ended one)."""
    view = executions.read(services.store, services.settings, caller, message_id)
    return _raw_output(view.stdout if stream == "stdout" else view.stderr, stream)


@router.get("/job_executions/{message_id}/attempts/{number}/output/{stream}.txt")
def attempt_raw_output(
    message_id: str,
    number: Annotated[int, Path(ge=0, le=_ATTEMPT_NUMBER_MAX)],
    stream: str,
    services: ServicesDep,
    caller: ConsoleCallerDep,
) -> PlainTextResponse:
    attempt = executions.read_attempt(services.store, caller, message_id, number).attempt
    return _raw_output(attempt.stdout if stream == "stdout" else attempt.stderr, stream)


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
    state = views.live_state(view, output, _stop_grace(services.store, view.execution))
    return JSONResponse(state, headers={"Cache-Control": "no-store"})


def _stop_grace(store: Store, execution: Execution) -> float:
    """How long a stopping attempt gets between SIGTERM and the kill (its job's setting)."""
    if execution.status.is_terminal:
        return STOP_GRACE_SECONDS
    try:
        return store.get_job_definition(execution.application, execution.job).stop_grace_seconds
    except NotFound:  # deleted since: the default
        return STOP_GRACE_SECONDS


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
