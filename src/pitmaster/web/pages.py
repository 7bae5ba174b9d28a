"""The web console: server-rendered pages over the same store methods as the API.

Every page works without JavaScript; ``static/console.js`` only refreshes a
running execution. State changes are POSTs carrying the CSRF token
(``csrf.py``); bad input re-renders its form with the reasons and a 4xx.
Every page needs a console session (``sessions.py``). A session opened with an
app token sees only that app: its page, job definitions and executions; the
rest is 403, and other apps' pages and executions are 404.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from importlib import resources
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, StrictUndefined

from pitmaster.api.deps import Services, ServicesDep
from pitmaster.api.schemas import JobPolicy
from pitmaster.auth import Caller
from pitmaster.errors import Conflict, InvalidInput, NotFound, PitmasterError
from pitmaster.executors.base import Logs
from pitmaster.images import check_image_allowed
from pitmaster.models import (
    MAX_PAGE_SIZE,
    RETRYABLE_STATUSES,
    Attempt,
    AttemptState,
    ExecutionFilter,
    ExecutionPage,
    Status,
    status_values,
)
from pitmaster.web import csrf, forms, sessions, views
from pitmaster.web.forms import Form, FormInvalid
from pitmaster.web.output import format_message
from pitmaster.web.sessions import ConsoleCallerDep

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False, dependencies=[sessions.require_login])
# Pages that change what can run, or show every app at once: admins only.
admin_router = APIRouter(
    include_in_schema=False, dependencies=[sessions.require_login, sessions.require_admin]
)
PAGE_SIZE = 50
# Lists of named things (apps, job definitions, queues, workers) show this many a page.
NAMES_PAGE_SIZE = MAX_PAGE_SIZE
_API_PREFIXES = ("/v1/", "/v2/", "/healthz", "/docs", "/openapi.json", "/metrics")


def mount(app: FastAPI) -> None:
    """Serve the console from ``app``: pages, and the CSS and JS under ``/static``."""
    environment = Environment(
        loader=PackageLoader("pitmaster.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = views.when
    environment.filters["seconds"] = views.seconds_text
    environment.globals["quote"] = lambda text: quote(str(text), safe="")
    app.state.templates = environment
    static = resources.files("pitmaster.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.include_router(admin_router)  # first: /apps/new before /apps/{name}
    app.include_router(router)


def is_console_page(request: Request) -> bool:
    """Whether an error here should be an HTML page (the API's stay JSON)."""
    path = request.url.path
    return not path.startswith(_API_PREFIXES) and not path.endswith(".json")


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    environment: Environment = request.app.state.templates
    html = environment.get_template(template).render(
        request=request,
        csrf_token=csrf.token_for(request),
        path=request.url.path,
        caller=getattr(request.state, "caller", None),
        **context,
    )
    # Every page shows one caller's view (messages, output, the CSRF token in its
    # forms): no browser or proxy cache keeps it.
    response = HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
    csrf.remember(request, response)
    return response


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code, code=status_code, message=message)


async def _checked_form(request: Request) -> Form:
    form = await forms.read_form(request)
    csrf.check(request, form.get(csrf.FIELD))
    return form


PostedForm = Annotated[Form, Depends(_checked_form)]


def _next_page(path: str, items: Sequence[Any], after: str) -> str | None:
    """The URL of the page after a full one; None after the last."""
    if len(items) < NAMES_PAGE_SIZE:
        return None
    return f"{path}?{urlencode({'after': after})}"


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _status_of(error: PitmasterError | FormInvalid) -> int:
    return error.http_status if isinstance(error, PitmasterError) else 422


def _errors_of(error: PitmasterError | FormInvalid) -> list[str]:
    return error.errors if isinstance(error, FormInvalid) else [str(error)]


def _check_app(caller: Caller, name: str) -> None:
    """Another app's pages do not exist for an app token's session."""
    if not caller.may_see(name):
        raise NotFound(f"app {name!r} does not exist")


# -- apps -------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def apps_index(
    request: Request, services: ServicesDep, caller: ConsoleCallerDep, after: str = ""
) -> HTMLResponse:
    since = services.store.now() - timedelta(hours=24)
    page = services.store.stats.app_summaries(since, NAMES_PAGE_SIZE, after or None)
    next_url = _next_page("/", page, page[-1].app.name) if page else None
    summaries = [summary for summary in page if caller.may_see(summary.app.name)]
    return render(request, "apps.html", summaries=summaries, next_url=next_url)


@admin_router.get("/apps/new", response_class=HTMLResponse)
def app_new(request: Request) -> HTMLResponse:
    return render(request, "app_form.html", app=None, values={}, errors=[])


@admin_router.post("/apps", response_class=HTMLResponse)
def app_create(request: Request, form: PostedForm, services: ServicesDep) -> Response:
    try:
        body = forms.app_create(form)
        check_image_allowed(body.docker_image, services.settings.allowed_image_rules)
        services.store.create_app(
            body.name, body.docker_image, body.description, body.max_concurrent_executions
        )
    except (FormInvalid, Conflict, InvalidInput) as error:
        return render(
            request,
            "app_form.html",
            _status_of(error),
            app=None,
            values=form.as_dict(),
            errors=_errors_of(error),
        )
    return _redirect(f"/apps/{quote(body.name, safe='')}")


@router.get("/apps/{name}", response_class=HTMLResponse)
def app_show(
    request: Request, name: str, services: ServicesDep, caller: ConsoleCallerDep
) -> HTMLResponse:
    _check_app(caller, name)
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
        changes = forms.app_update(form)
        if "docker_image" in changes:
            check_image_allowed(changes["docker_image"], services.settings.allowed_image_rules)
        services.store.update_app(name, changes)
    except (FormInvalid, InvalidInput) as error:
        return render(
            request,
            "app_form.html",
            _status_of(error),
            app=app,
            values=form.as_dict(),
            errors=_errors_of(error),
        )
    return _redirect(f"/apps/{quote(name, safe='')}")


@admin_router.post("/apps/{name}/delete")
def app_delete(name: str, _form: PostedForm, services: ServicesDep) -> Response:
    services.store.delete_app(name)
    return _redirect("/")


# -- job definitions --------------------------------------------------------------


@router.get("/job_definitions", response_class=HTMLResponse)
def job_definitions_index(
    request: Request, services: ServicesDep, caller: ConsoleCallerDep, after: str = ""
) -> HTMLResponse:
    """Every app's job definitions; ``after`` is the ``app/job`` the page before ended with."""
    app, _, job = after.partition("/")
    if caller.app is None:
        page = services.store.list_all_job_definitions(
            NAMES_PAGE_SIZE, (app, job) if after else None
        )
    else:  # an app pages through its own definitions only
        mine = app == caller.app and after
        page = services.store.list_job_definitions(
            caller.app, NAMES_PAGE_SIZE, job if mine else None
        )
    next_url = None
    if page:
        last = page[-1]
        next_url = _next_page("/job_definitions", page, f"{last.app}/{last.job}")
    return render(request, "job_definitions.html", definitions=page, next_url=next_url)


def _definition_form(
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
    defaults = {name: f"{value:g}" for name, value in forms.POLICY_DEFAULTS.items()}
    return _definition_form(request, 200, app, None, defaults, [], None)


@admin_router.post("/job_definitions", response_class=HTMLResponse)
def job_definition_create(request: Request, form: PostedForm, services: ServicesDep) -> Response:
    app = form.get("app")
    services.store.get_app(app)
    try:
        body = forms.job_definition_create(form)
        policy = body.model_dump(include=set(JobPolicy.model_fields))
        services.store.create_job_definition(
            app, body.job, body.command, body.description, **policy
        )
    except (FormInvalid, Conflict, InvalidInput) as error:
        return _definition_form(
            request,
            _status_of(error),
            app,
            None,
            form.as_dict(),
            _errors_of(error),
            form.all("retry_on") or None,
        )
    return _redirect(f"/job_definitions/{quote(app, safe='')}/{quote(body.job, safe='')}")


@router.get("/job_definitions/{app}/{job}", response_class=HTMLResponse)
def job_definition_show(
    request: Request, app: str, job: str, services: ServicesDep, caller: ConsoleCallerDep
) -> HTMLResponse:
    _check_app(caller, app)
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
        services.store.update_job_definition(app, job, forms.job_definition_update(form))
    except (FormInvalid, InvalidInput) as error:
        return _definition_form(
            request,
            _status_of(error),
            app,
            definition,
            form.as_dict(),
            _errors_of(error),
            form.all("retry_on") or None,
        )
    return _redirect(f"/job_definitions/{quote(app, safe='')}/{quote(job, safe='')}")


@admin_router.post("/job_definitions/{app}/{job}/delete")
def job_definition_delete(app: str, job: str, _form: PostedForm, services: ServicesDep) -> Response:
    services.store.delete_job_definition(app, job)
    return _redirect(f"/apps/{quote(app, safe='')}")


# -- queues and monitor -------------------------------------------------------------


def _queue_rows(services: Services, after: str | None = None) -> list[dict[str, Any]]:
    settings, store = services.settings, services.store
    now = store.now()
    rows = []
    for summary in store.stats.queue_summaries(NAMES_PAGE_SIZE, after):
        reason = None
        if summary.oldest_pending is not None:
            reason = store.pending_reason(
                summary.oldest_pending,
                settings.max_concurrent_executions,
                settings.worker_alive_seconds,
            )
        rows.append(
            {
                "summary": summary,
                "oldest_age": views.age(summary.oldest_pending_at, now),
                "pending_reason": reason,
            }
        )
    return rows


@admin_router.get("/job_queues", response_class=HTMLResponse)
def queues_index(request: Request, services: ServicesDep, after: str = "") -> HTMLResponse:
    rows = _queue_rows(services, after or None)
    next_url = _next_page("/job_queues", rows, rows[-1]["summary"].queue.name) if rows else None
    return render(
        request,
        "queues.html",
        rows=rows,
        next_url=next_url,
        global_limit=services.settings.max_concurrent_executions,
    )


@admin_router.get("/monitors", response_class=HTMLResponse)
def monitor(request: Request, services: ServicesDep) -> HTMLResponse:
    store = services.store
    now = store.now()
    day = views.window(now, 23).replace(minute=0, second=0, microsecond=0)
    six = views.window(now, 5).replace(minute=0, second=0, microsecond=0)
    buckets = store.stats.enqueued_per_hour_by_job(day)
    alive_for = timedelta(seconds=services.settings.worker_alive_seconds)
    workers = [
        {
            "worker": worker,
            "alive": now - worker.last_seen_at <= alive_for,
            "seen_ago": views.age(worker.last_seen_at, now),
        }
        for worker in store.list_workers(NAMES_PAGE_SIZE)
    ]
    return render(
        request,
        "monitor.html",
        six_hours=views.jobs_chart([b for b in buckets if b.hour >= six], six, now, "last 6 hours"),
        day=views.jobs_chart(buckets, day, now, "last 24 hours"),
        rows=_queue_rows(services),
        workers=workers,
    )


# -- executions -------------------------------------------------------------------


def _filter_of(application: str, job: str, queue: str, status: str) -> ExecutionFilter:
    try:
        status_value = Status(status) if status else None
    except ValueError as exc:
        raise InvalidInput(f"status must be one of {[s.value for s in Status]}") from exc
    return ExecutionFilter(
        application=application or None, job=job or None, queue=queue or None, status=status_value
    )


@router.get("/job_executions", response_class=HTMLResponse)
def executions_index(
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
    where = caller.scoped(_filter_of(application, job, queue, status))
    page = ExecutionPage(items=[], next_cursor=None)
    if where is not None:
        page = services.store.list_executions(where, cursor=cursor or None, limit=PAGE_SIZE)
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
    if status not in status_values(RETRYABLE_STATUSES):
        raise InvalidInput("only failed, error or cancelled executions can be retried")
    where = caller.scoped(
        _filter_of(form.get("application"), form.get("job"), form.get("queue"), status)
    )
    after = form.get("after_id") or ""
    if after and not (after.isascii() and after.isdigit() and len(after) <= 19):
        raise InvalidInput("after_id must be an execution id")
    retried, remaining, next_after_id = 0, 0, None
    if where is not None:
        done = services.store.retry_all(where, after_id=int(after) if after else None)
        retried, remaining, next_after_id = done.retried, done.remaining, done.next_after_id
    given = {name: form.get(name) for name in ("application", "job", "queue") if form.get(name)} | {
        "status": status,
        "retried": str(retried),
    }
    if next_after_id is not None:
        given |= {"remaining": str(remaining), "after_id": str(next_after_id)}
    return _redirect("/job_executions?" + urlencode(given))


@router.get("/job_executions/{message_id}", response_class=HTMLResponse)
def execution_show(
    request: Request, message_id: str, services: ServicesDep, caller: ConsoleCallerDep
) -> HTMLResponse:
    store, settings = services.store, services.settings
    execution = caller.visible(store.get_execution(message_id), message_id)
    attempts = store.attempts_of(execution.id)
    pending_reason = store.pending_reason(
        execution,
        settings.max_concurrent_executions,
        settings.worker_alive_seconds,
        name_workers=caller.is_admin,
    )
    return render(
        request,
        "execution.html",
        execution=execution,
        attempts=attempts,
        live=views.live_state(
            execution, attempts, pending_reason, _running_output(services, attempts, wait=True)
        ),
        message=format_message(execution.message),
    )


@router.get("/job_executions/{message_id}/live.json")
def execution_live(
    message_id: str, services: ServicesDep, caller: ConsoleCallerDep
) -> JSONResponse:
    """The part of the execution page that changes while it runs, for console.js."""
    store, settings = services.store, services.settings
    execution = caller.visible(store.get_execution(message_id), message_id)
    attempts = store.attempts_of(execution.id)
    pending_reason = store.pending_reason(
        execution,
        settings.max_concurrent_executions,
        settings.worker_alive_seconds,
        name_workers=caller.is_admin,
    )
    try:
        output = _running_output(services, attempts)
    except _ReadersBusy:
        return JSONResponse(
            {"error": "too many live output reads under way; retry shortly"},
            status_code=429,
            headers={"Retry-After": str(LIVE_RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
        )
    return JSONResponse(
        views.live_state(execution, attempts, pending_reason, output),
        headers={"Cache-Control": "no-store"},
    )


LIVE_RETRY_AFTER_SECONDS = 2


class _ReadersBusy(Exception):
    """Every live output reader of this process is busy."""


def _running_output(
    services: Services, attempts: Sequence[Attempt], *, wait: bool = False
) -> Logs | None:
    """The end of the running attempt's output so far, if its container is on an engine this
    process reads. At most ``live_output_readers`` such reads run at once: beyond them,
    ``_ReadersBusy`` (or, with ``wait``, a wait of up to a second, then no output)."""
    reader = services.log_reader
    running = next((a for a in attempts if a.state is AttemptState.RUNNING), None)
    if reader is None or running is None or running.container_id is None:
        return None
    if not services.live_reads.acquire(timeout=1 if wait else None, blocking=wait):
        if wait:
            return None
        raise _ReadersBusy
    try:
        if running.engine_id != reader.engine_id():
            return None
        return reader.recent_logs(running.container_id, services.settings.live_output_bytes)
    except PitmasterError as exc:
        logger.info("output of %s not readable now: %s", running.container_id[:12], exc)
        return None
    finally:
        services.live_reads.release()


@router.post("/job_executions/{message_id}/retry")
def execution_retry(
    message_id: str, _form: PostedForm, services: ServicesDep, caller: ConsoleCallerDep
) -> Response:
    execution = caller.visible(services.store.get_execution(message_id), message_id)
    services.store.retry(execution.message_id)
    if services.on_enqueue is not None:
        services.on_enqueue()
    return _redirect(f"/job_executions/{quote(execution.message_id, safe='')}")


@router.post("/job_executions/{message_id}/cancel")
def execution_cancel(
    message_id: str, _form: PostedForm, services: ServicesDep, caller: ConsoleCallerDep
) -> Response:
    found = caller.visible(services.store.get_execution(message_id), message_id)
    execution = services.store.cancel(found.message_id)
    return _redirect(f"/job_executions/{quote(execution.message_id, safe='')}")
