"""``/v1``: apps, job definitions and queues (management), and reading executions.

Routes on ``admin_router`` need an admin token. Those on ``router`` take any
token and confine an app token to its own app's executions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

from pitmaster.api import fields as garage_fields
from pitmaster.api.schemas import (
    WITH_BODY,
    AppOut,
    AttemptOut,
    BulkRetryRequest,
    BulkRetryResponse,
    ExecutionList,
    ExecutionOut,
    JobDefinitionOut,
    OutputOut,
    QueueOut,
    RetryRequest,
    RetryResponse,
    RevisionLock,
    RevisionLockOut,
    SecretName,
    SecretOut,
    SecretValue,
    WorkerOut,
    error_responses,
)
from pitmaster.errors import Forbidden, NotFound
from pitmaster.http_common.deps import CallerDep, ServicesDep, require_admin
from pitmaster.models import (
    MAX_PAGE_SIZE,
    NAME_MAX_LENGTH,
    Execution,
    ExecutionFilter,
    Status,
    readable_message,
)
from pitmaster.services import catalog, executions, workers
from pitmaster.services.inputs import (
    NAME_PATTERN,
    PRINTABLE_PATTERN,
    AppCreate,
    AppUpdate,
    JobDefinitionCreate,
    JobDefinitionUpdate,
    QueueCreate,
    QueueUpdate,
    job_name_filter,
)
from pitmaster.services.live_output import output_so_far

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1")
admin_router = APIRouter(prefix="/v1", dependencies=[require_admin])

# Documented error answers of a route reading one thing, one taking a body, a list, and
# one changing a thing without a body. A name the database cannot hold is a 422 anywhere.
_READ = error_responses(404, 422)
_CHANGE = error_responses(*WITH_BODY, 404, 409)
_LIST = error_responses(422)
_DELETE = error_responses(404, 409, 422)
_NAME_AFTER = Query(
    pattern=NAME_PATTERN,
    max_length=NAME_MAX_LENGTH,
    description="the last name of the page before: this page starts after it",
)
_NAME_FILTER = Query(pattern=NAME_PATTERN, max_length=NAME_MAX_LENGTH)
_JOB_FILTER = Query(max_length=NAME_MAX_LENGTH)
PageSize = Annotated[
    int,
    Query(ge=1, le=MAX_PAGE_SIZE, description=f"most items in the page (at most {MAX_PAGE_SIZE})"),
]


def _link_next(
    request: Request, response: Response, items: Sequence[Any], limit: int, after: str
) -> None:
    """A full page may not be the last: ``Link`` points at the next one."""
    if len(items) < limit:
        return
    query = urlencode({"limit": limit, "after": after})
    response.headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'


# An execution's fields shown unless ?fields= leaves them out, and those shown only if named.
DEFAULT_FIELDS = frozenset(ExecutionOut.model_fields) - {
    "message",
    "stdout",
    "stderr",
    "html_url",
    "retries",
    "attempts",
}
EXTRA_FIELDS = ("message", "stdout", "stderr", "html_url", "retries", "attempts")
# An attempt's output is shown only when named inside: fields=attempts[__default__,stdout].
ATTEMPT_EXTRA_FIELDS = ("stdout", "stderr")
ATTEMPT_DEFAULT_FIELDS = frozenset(AttemptOut.model_fields) - set(ATTEMPT_EXTRA_FIELDS)
_ATTEMPT_LISTS = ("attempts", "retries")
_MAX_ATTEMPT_NUMBER = 2**31 - 1  # the attempts table's number is a 32-bit integer


# -- apps -----------------------------------------------------------------------


@admin_router.post("/apps", status_code=201, responses=_CHANGE, tags=["apps"])
def create_app(body: AppCreate, services: ServicesDep) -> AppOut:
    return AppOut.of(catalog.create_app(services.store, services.settings, body))


@admin_router.get("/apps", responses=_LIST, tags=["apps"])
def list_apps(
    request: Request,
    response: Response,
    services: ServicesDep,
    limit: PageSize = MAX_PAGE_SIZE,
    after: Annotated[str | None, _NAME_AFTER] = None,
) -> list[AppOut]:
    """Apps by name; a full page has a ``Link`` header to the next."""
    page = services.store.list_apps(limit, after)
    if page:
        _link_next(request, response, page, limit, page[-1].name)
    return [AppOut.of(app) for app in page]


@admin_router.get("/apps/{name}", responses=_READ, tags=["apps"])
def get_app(name: str, services: ServicesDep) -> AppOut:
    return AppOut.of(services.store.get_app(name))


@admin_router.patch("/apps/{name}", responses=_CHANGE, tags=["apps"])
def update_app(name: str, body: AppUpdate, services: ServicesDep) -> AppOut:
    return AppOut.of(catalog.update_app(services.store, services.settings, name, body.changes()))


def _own_app(caller: CallerDep, name: str) -> None:
    if not caller.may_see(name):
        raise Forbidden(f"this token may only change app {caller.app!r}")


@router.post("/apps/{name}/revision_lock", status_code=201, responses=_CHANGE, tags=["apps"])
def lock_revision(
    name: str, body: RevisionLock, services: ServicesDep, caller: CallerDep
) -> RevisionLockOut:
    """Run the app's jobs in this tag of its image until unlocked (barbeque's answer).

    An app token may lock its own app (a deploy does), no other.
    """
    _own_app(caller, name)
    catalog.lock_revision(services.store, services.settings, name, body.revision)
    return RevisionLockOut(revision=body.revision)


@router.delete("/apps/{name}/revision_lock", status_code=204, responses=_DELETE, tags=["apps"])
def unlock_revision(name: str, services: ServicesDep, caller: CallerDep) -> Response:
    """Run the app's jobs in its docker_image as configured again (204, as barbeque).

    barbeque sets the image's tag to ``latest`` instead: see docs/barbeque.md.
    """
    _own_app(caller, name)
    catalog.unlock_revision(services.store, name)
    return Response(status_code=204)


@admin_router.delete("/apps/{name}", status_code=204, responses=_DELETE, tags=["apps"])
def delete_app(name: str, services: ServicesDep) -> Response:
    """Delete an app with its job definitions, secrets and tokens.

    Its waiting executions are cancelled and its running ones stopped; the
    executions stay as history that only admins see. An app made again under
    the same name neither sees nor runs any of them.
    """
    catalog.delete_app(services.store, name)
    services.token_cache.clear()  # its tokens are gone: refused here at once
    return Response(status_code=204)


# -- secrets ------------------------------------------------------------------------

SecretNamePath = Annotated[SecretName, Path(description="the secret's name, e.g. API_TOKEN")]


@admin_router.put("/apps/{app}/secrets/{name}", responses=_CHANGE, tags=["secrets"])
def put_secret(
    app: str, name: SecretNamePath, body: SecretValue, services: ServicesDep, response: Response
) -> SecretOut:
    """Set a secret of the app's jobs (201 new, 200 replaced); its value is never shown again.

    The job reads it from the file ``/run/secrets/NAME``.
    """
    secret, created = catalog.put_secret(services.store, services.settings, app, name, body.value)
    response.status_code = 201 if created else 200
    return SecretOut.of(secret)


@admin_router.get("/apps/{app}/secrets", responses=_READ, tags=["secrets"])
def list_secrets(app: str, services: ServicesDep) -> list[SecretOut]:
    """The app's secrets: names and times only."""
    return [SecretOut.of(secret) for secret in services.store.list_secrets(app)]


@admin_router.delete(
    "/apps/{app}/secrets/{name}", status_code=204, responses=_DELETE, tags=["secrets"]
)
def delete_secret(app: str, name: SecretNamePath, services: ServicesDep) -> Response:
    catalog.delete_secret(services.store, app, name)
    return Response(status_code=204)


# -- job definitions ----------------------------------------------------------


@admin_router.post(
    "/apps/{app}/job_definitions", status_code=201, responses=_CHANGE, tags=["job definitions"]
)
def create_job_definition(
    app: str, body: JobDefinitionCreate, services: ServicesDep
) -> JobDefinitionOut:
    return JobDefinitionOut.of(catalog.create_job_definition(services.store, app, body))


@admin_router.get(
    "/apps/{app}/job_definitions", responses=error_responses(404, 422), tags=["job definitions"]
)
def list_job_definitions(
    app: str,
    request: Request,
    response: Response,
    services: ServicesDep,
    limit: PageSize = MAX_PAGE_SIZE,
    after: Annotated[str | None, _NAME_AFTER] = None,
) -> list[JobDefinitionOut]:
    """An app's job definitions by job name; a full page has a ``Link`` header to the next."""
    page = services.store.list_job_definitions(app, limit, after)
    if page:
        _link_next(request, response, page, limit, page[-1].job)
    return [JobDefinitionOut.of(d) for d in page]


@admin_router.get("/apps/{app}/job_definitions/{job}", responses=_READ, tags=["job definitions"])
def get_job_definition(app: str, job: str, services: ServicesDep) -> JobDefinitionOut:
    return JobDefinitionOut.of(services.store.get_job_definition(app, job))


@admin_router.patch(
    "/apps/{app}/job_definitions/{job}", responses=_CHANGE, tags=["job definitions"]
)
def update_job_definition(
    app: str, job: str, body: JobDefinitionUpdate, services: ServicesDep
) -> JobDefinitionOut:
    definition = catalog.update_job_definition(services.store, app, job, body.changes())
    return JobDefinitionOut.of(definition)


@admin_router.delete(
    "/apps/{app}/job_definitions/{job}",
    status_code=204,
    responses=_CHANGE,
    tags=["job definitions"],
)
def delete_job_definition(app: str, job: str, services: ServicesDep) -> Response:
    catalog.delete_job_definition(services.store, app, job)
    return Response(status_code=204)


# -- job queues -------------------------------------------------------------------


@admin_router.post("/job_queues", status_code=201, responses=_CHANGE, tags=["job queues"])
def create_queue(body: QueueCreate, services: ServicesDep) -> QueueOut:
    queue = catalog.create_queue(
        services.store, body.name, body.description, body.max_concurrent_executions
    )
    return QueueOut.of(queue)


@admin_router.get("/job_queues", responses=_LIST, tags=["job queues"])
def list_queues(
    request: Request,
    response: Response,
    services: ServicesDep,
    limit: PageSize = MAX_PAGE_SIZE,
    after: Annotated[str | None, _NAME_AFTER] = None,
) -> list[QueueOut]:
    """Queues by name; a full page has a ``Link`` header to the next."""
    page = services.store.list_queues(limit, after)
    if page:
        _link_next(request, response, page, limit, page[-1].name)
    return [QueueOut.of(queue) for queue in page]


@admin_router.get("/job_queues/{name}", responses=_READ, tags=["job queues"])
def get_queue(name: str, services: ServicesDep) -> QueueOut:
    return QueueOut.of(services.store.get_queue(name))


@admin_router.patch("/job_queues/{name}", responses=_CHANGE, tags=["job queues"])
def update_queue(name: str, body: QueueUpdate, services: ServicesDep) -> QueueOut:
    return QueueOut.of(catalog.update_queue(services.store, name, body.changes()))


@admin_router.delete("/job_queues/{name}", status_code=204, responses=_DELETE, tags=["job queues"])
def delete_queue(name: str, services: ServicesDep) -> Response:
    """Delete a queue that holds no pending or running work; ``default`` always stays."""
    catalog.delete_queue(services.store, name)
    return Response(status_code=204)


# -- job executions -------------------------------------------------------------


def _html_url(request: Request, services: ServicesDep, execution: Execution) -> str:
    base = services.settings.public_url or str(request.base_url)
    return f"{base.rstrip('/')}/job_executions/{execution.message_id}"


@router.get(
    "/job_executions/{message_id}",
    responses=error_responses(400, 404),
    response_model=ExecutionOut,
    response_model_exclude_unset=True,
    tags=["executions"],
)
def get_execution(
    message_id: str,
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    fields: Annotated[
        str | None,
        Query(
            description="Garage's field selection: absent, the default fields; a list, only "
            "those (__default__ for the default ones); * for all. Shown only when named: "
            + ", ".join(EXTRA_FIELDS)
            + ". attempts[...] and retries[...] select each attempt's fields the same way; "
            "its stdout and stderr are shown only when named there, e.g. "
            "attempts[__default__,stdout,stderr]"
        ),
    ] = None,
) -> Response:
    """An execution by its message_id (or numeric id, or a retry's message_id)."""
    requested = garage_fields.select(fields, DEFAULT_FIELDS, EXTRA_FIELDS)
    with_attempts = bool(requested & {"stdout", "stderr", "attempts", "retries"})
    view = executions.read(
        services.store, services.settings, caller, message_id, with_attempts=with_attempts
    )
    execution = view.execution
    out = ExecutionOut.of(execution)
    out.pending_reason = view.pending_reason
    if "message" in requested:
        out.message = readable_message(execution.message)
    if "html_url" in requested:
        out.html_url = _html_url(request, services, execution)
    if "stdout" in requested:
        out.stdout = view.stdout
    if "stderr" in requested:
        out.stderr = view.stderr
    shown: dict[str, Any] = dict.fromkeys(requested, True)
    for name in _ATTEMPT_LISTS:
        if name not in requested:
            continue
        attempt_fields = garage_fields.select_within(
            fields, name, ATTEMPT_DEFAULT_FIELDS, ATTEMPT_EXTRA_FIELDS
        )
        with_output = bool(attempt_fields & set(ATTEMPT_EXTRA_FIELDS))
        setattr(
            out,
            name,
            [AttemptOut.of(attempt, with_output=with_output) for attempt in view.attempts],
        )
        shown[name] = {"__all__": attempt_fields}
    return JSONResponse(out.model_dump(mode="json", include=shown))


@router.get(
    "/job_executions/{message_id}/attempts/{number}",
    responses=_READ,
    tags=["executions"],
)
def get_attempt(
    message_id: str,
    number: Annotated[int, Path(ge=0, le=_MAX_ATTEMPT_NUMBER, description="0: the first run")],
    services: ServicesDep,
    caller: CallerDep,
) -> AttemptOut:
    """One attempt of an execution, with its stored stdout and stderr.

    ``number`` is the attempt's ``number`` in ``fields=attempts``: 0 the first run,
    N the Nth retry. A running attempt's output is stored when it ends.
    """
    view = executions.read_attempt(services.store, caller, message_id, number)
    return AttemptOut.of(view.attempt, with_output=True)


@router.get("/job_executions/{message_id}/output", responses=_READ, tags=["executions"])
def get_output(
    message_id: str, response: Response, services: ServicesDep, caller: CallerDep
) -> OutputOut:
    """The output so far: a running attempt's read from its engine, else the last stored.

    For following a job while it runs (``pitmaster logs --follow``). The running
    attempt's output is read live only where the server reaches the job's engine
    (``pitmaster up``); elsewhere it comes when the attempt ends.
    """
    view = executions.read(services.store, services.settings, caller, message_id)
    execution = view.execution
    output = output_so_far(services.live_output, view.attempts)
    response.headers["Cache-Control"] = "no-store"
    return OutputOut(
        message_id=execution.message_id,
        status=execution.status,
        ended=execution.status.is_terminal and not execution.output_pending,
        attempt=output.attempt,
        live=output.live,
        stdout=output.stdout,
        stderr=output.stderr,
    )


@router.post(
    "/job_executions/{message_id}/cancel",
    responses=_DELETE,
    response_model_exclude_unset=True,
    tags=["executions"],
)
def cancel_execution(message_id: str, services: ServicesDep, caller: CallerDep) -> ExecutionOut:
    """Cancel: a waiting execution at once; a running one by stopping its container.

    Cancelling twice is fine; cancelling an execution that ended otherwise is 409.
    """
    return ExecutionOut.of(executions.cancel(services.store, caller, message_id))


@router.post(
    "/job_executions/{message_id}/retries", status_code=201, responses=_CHANGE, tags=["executions"]
)
def retry_execution(
    message_id: str, services: ServicesDep, caller: CallerDep, body: RetryRequest | None = None
) -> RetryResponse:
    """Retry an execution that ended failed, error or cancelled (barbeque-compatible)."""
    delay = body.delay_seconds if body is not None and body.delay_seconds is not None else 0
    retry_id = executions.retry(services.store, services.wakeup, caller, message_id, delay)
    return RetryResponse(message_id=retry_id, status=Status.PENDING)


@router.post("/job_executions/retries", responses=_CHANGE, tags=["executions"])
def retry_executions(
    body: BulkRetryRequest, services: ServicesDep, caller: CallerDep
) -> BulkRetryResponse:
    """Retry, once each, the executions that match the filter (by default: failed ones).

    At most ``limit`` (5000) a call, oldest first, in short transactions of 500; the answer
    says how many matched, how many were retried and how many remain: send its
    ``next_after_id`` as ``after_id`` to go on. With an app token, only that app's match.
    """
    where = ExecutionFilter(
        application=body.application, job=body.job, queue=body.queue, status=body.status
    )
    done = executions.retry_matching(
        services.store,
        services.wakeup,
        caller,
        where,
        body.created_since,
        after_id=body.after_id,
        limit=body.limit,
    )
    return BulkRetryResponse(
        retried=done.retried,
        matched=done.matched,
        remaining=done.remaining,
        next_after_id=done.next_after_id,
    )


@router.get("/job_executions", responses=_LIST, tags=["executions"])
def list_executions(  # noqa: PLR0913, PLR0917 -- one parameter per query parameter of the endpoint
    services: ServicesDep,
    caller: CallerDep,
    application: Annotated[str | None, _NAME_FILTER] = None,
    job: Annotated[str | None, _JOB_FILTER, AfterValidator(job_name_filter)] = None,
    queue: Annotated[str | None, _NAME_FILTER] = None,
    status: Status | None = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the page before")] = None,
    schedule: Annotated[
        str | None,
        Query(
            pattern=NAME_PATTERN,
            max_length=NAME_MAX_LENGTH,
            description="only those this schedule (by name) made",
        ),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"most items (at most {MAX_PAGE_SIZE})")
    ] = 50,
) -> ExecutionList:
    """Executions, newest first, filtered; follow ``next_cursor`` for older ones.

    With an app token, only that app's executions are listed.
    """
    schedule_id = None
    if schedule is not None:
        try:
            schedule_id = services.store.get_schedule(schedule).id
        except NotFound:  # a filter matching nothing lists nothing
            return ExecutionList(items=[], next_cursor=None)
    where = ExecutionFilter(
        application=application, job=job, queue=queue, status=status, schedule_id=schedule_id
    )
    page = executions.list_page(services.store, caller, where, cursor, limit)
    return ExecutionList(
        items=[ExecutionOut.of(execution) for execution in page.items],
        next_cursor=page.next_cursor,
    )


# -- workers ------------------------------------------------------------------------


@admin_router.get("/workers", responses=_LIST, tags=["workers"])
def list_workers(
    request: Request,
    response: Response,
    services: ServicesDep,
    limit: PageSize = MAX_PAGE_SIZE,
    after: Annotated[
        str | None,
        Query(
            pattern=PRINTABLE_PATTERN,
            max_length=NAME_MAX_LENGTH,
            description="the last id of the page before: this page starts after it",
        ),
    ] = None,
) -> list[WorkerOut]:
    """Workers by id, from their heartbeats; one not seen for three heartbeats is not alive.

    A full page has a ``Link`` header to the next.
    """
    page = workers.list_workers(services.store, services.settings, limit, after)
    if page:
        _link_next(request, response, page, limit, page[-1].worker.id)
    return [
        WorkerOut(
            id=view.worker.id,
            host=view.worker.host,
            engine=view.worker.engine,
            queues=list(view.worker.queues) if view.worker.queues is not None else None,
            started_at=view.worker.started_at,
            last_seen_at=view.worker.last_seen_at,
            alive=view.alive,
            healthy=view.worker.healthy,
            unhealthy_reason=view.worker.unhealthy_reason,
            running=view.worker.running,
        )
        for view in page
    ]
