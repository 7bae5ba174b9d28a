"""Request and response bodies of the HTTP API (the bodies the console shares are in
``pitmaster.services.inputs``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Header
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
)

from pitmaster.app_secrets import (
    SECRET_NAME_MAX_LENGTH,
    SECRET_NAME_PATTERN,
    SECRET_VALUE_MAX_BYTES,
)
from pitmaster.models import (
    BULK_RETRY_LIMIT,
    DEFAULT_QUEUE,
    MAX_DELAY_SECONDS,
    RETRYABLE_STATUSES,
    Attempt,
    Execution,
    JobDefinition,
    Status,
)
from pitmaster.retry import Ending
from pitmaster.services.inputs import (
    _PRINTABLE,
    Input,
    JobName,
    JobPolicy,
    Name,
    Priority,
)
from pitmaster.services.tokens import TokenOut
from pitmaster.shown import Shown

Revision = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]


class RevisionLock(Input):
    """barbeque's revision lock: run this tag of the app's image."""

    revision: Revision


class RevisionLockOut(BaseModel):
    """barbeque's answer to a revision lock: the tag now run."""

    revision: str


class AppOut(Shown):
    name: str
    docker_image: str
    description: str
    max_concurrent_executions: int | None
    revision_lock: str | None
    created_at: datetime
    updated_at: datetime
    paused_at: datetime | None = Field(default=None, description="null: not paused")
    pause_reason: str | None = None


class JobDefinitionOut(JobPolicy):
    application: str
    job: str
    command: list[str]
    description: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, definition: JobDefinition) -> JobDefinitionOut:
        return cls(
            application=definition.app,
            job=definition.job,
            command=list(definition.command),
            description=definition.description,
            retry_limit=definition.retry_limit,
            base_delay=definition.base_delay,
            max_delay=definition.max_delay,
            jitter=definition.jitter,
            retry_on=(
                [Ending(e) for e in definition.retry_on]
                if definition.retry_on is not None
                else None
            ),
            retry_exit_codes=(
                list(definition.retry_exit_codes)
                if definition.retry_exit_codes is not None
                else None
            ),
            timeout_seconds=definition.timeout_seconds,
            stop_grace_seconds=definition.stop_grace_seconds,
            memory=definition.memory,
            cpus=definition.cpus,
            pids_limit=definition.pids_limit,
            network=definition.network,
            message_delivery=definition.message_delivery,
            priority=definition.priority,
            created_at=definition.created_at,
            updated_at=definition.updated_at,
        )


SecretName = Annotated[
    str,
    StringConstraints(pattern=SECRET_NAME_PATTERN, min_length=1, max_length=SECRET_NAME_MAX_LENGTH),
]


def _fits_secret_size(value: str) -> str:
    size = len(value.encode("utf-8"))
    if size > SECRET_VALUE_MAX_BYTES:
        # Say how big, never what: this message goes back to the client and may be logged.
        raise ValueError(f"the secret is {size} bytes, over the limit of {SECRET_VALUE_MAX_BYTES}")
    return value


class SecretValue(Input):
    """The value of a secret; it is sealed at once and never shown again."""

    value: Annotated[str, AfterValidator(_fits_secret_size)] = Field(
        description=f"the secret, as text (UTF-8, at most {SECRET_VALUE_MAX_BYTES} bytes)"
    )


class SecretOut(Shown):
    """A secret's name and times: its value is never part of an answer."""

    name: str
    created_at: datetime
    updated_at: datetime


class QueueOut(Shown):
    name: str
    description: str
    max_concurrent_executions: int | None
    created_at: datetime
    updated_at: datetime
    paused_at: datetime | None = Field(default=None, description="null: not paused")
    pause_reason: str | None = None


class PauseRequest(Input):
    """Why it is paused: shown as the pending reason of the work it holds back."""

    reason: Annotated[str, StringConstraints(pattern=_PRINTABLE, max_length=500)] = ""


IdempotencyKey = Annotated[str, StringConstraints(pattern=_PRINTABLE, min_length=1, max_length=255)]
# The Idempotency-Key header takes what the idempotency_key field takes, nothing more.
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        pattern=_PRINTABLE,
        min_length=1,
        max_length=255,
        description="the same key, the same answer, however often it is sent (kept for good)",
    ),
]


def _not_null(message: Any) -> Any:
    if message is None:
        raise ValueError("message is required and cannot be null (barbeque refuses it too)")
    return message


# barbeque's delays are whole seconds up to 900 (SQS's limit); pitmaster takes fractions
# and up to MAX_DELAY_SECONDS. null is "not given", as every optional field here.
Delay = Annotated[float, Field(ge=0, le=MAX_DELAY_SECONDS, allow_inf_nan=False)]


class EnqueueRequest(Input):
    """barbeque's enqueue: null for an optional field means it was not given."""

    application: Name
    job: JobName
    queue: Name | None = Field(default=None, description=f"null: {DEFAULT_QUEUE}")
    message: Annotated[Any, AfterValidator(_not_null)] = Field(
        description="free-form JSON, the job's BARBEQUE_MESSAGE (required, not null)"
    )
    delay_seconds: Delay | None = Field(
        default=None,
        description="seconds before it may run (barbeque: 0 to 900; pitmaster: up to "
        f"{MAX_DELAY_SECONDS}); null: 0",
    )
    run_at: AwareDatetime | None = Field(
        default=None, description="RFC 3339 time to run at, instead of delay_seconds"
    )
    idempotency_key: IdempotencyKey | None = Field(
        default=None, description="or the Idempotency-Key header: the same key, the same execution"
    )
    priority: Priority | None = Field(
        default=None,
        description="higher runs first among work that is due; null: the job definition's, else 0",
    )


class EnqueueBatchRequest(Input):
    items: list[EnqueueRequest] = Field(
        min_length=1,
        max_length=1000,
        description="1 to 1,000 messages, each as POST /v2/job_executions takes one; "
        "all are stored in one transaction, or none",
    )


class EnqueueBatchResponse(BaseModel):
    items: list[EnqueueResponse] = Field(description="the executions, in the items' order")


class RetryRequest(Input):
    delay_seconds: Delay | None = Field(default=None, description="null: 0")


class RetryResponse(BaseModel):
    message_id: str
    status: Status


if TYPE_CHECKING:
    RetryableStatus = Status
else:  # the statuses models.RETRYABLE_STATUSES holds, in Status's order, as the schema's enum
    RetryableStatus = Literal[tuple(status for status in Status if status in RETRYABLE_STATUSES)]


class BulkRetryRequest(Input):
    application: Name | None = None
    job: JobName | None = None
    queue: Name | None = None
    status: RetryableStatus = Status.FAILED
    created_since: AwareDatetime | None = None
    # Resume a bulk retry: only executions whose id is above this (``next_after_id``).
    after_id: int | None = Field(default=None, ge=0, le=2**63 - 1)
    limit: int = Field(default=BULK_RETRY_LIMIT, ge=1, le=BULK_RETRY_LIMIT)


class BulkRetryResponse(BaseModel):
    retried: int
    matched: int = Field(description="how many matched when the retry began")
    remaining: int = Field(description="how many of those this call left, past its limit")
    next_after_id: int | None = Field(
        description="send as after_id to retry the remaining ones; null when none remain"
    )


class EnqueueResponse(BaseModel):
    message_id: str
    status: Status
    id: int


class AttemptOut(BaseModel):
    number: int
    message_id: str
    state: str
    run_after: datetime | None
    container: str | None
    engine: str | None
    status: Status | None
    reason: str | None
    exit_code: int | None
    started_at: datetime | None
    finished_at: datetime | None
    recorded_at: datetime | None = Field(description="when pitmaster recorded the ending")
    output_recorded_at: datetime | None = Field(
        description="when its output was stored: with the ending, or just after it"
    )
    stdout: str | None = Field(
        default=None,
        description="its stored output; only when named, e.g. fields=attempts[__default__,stdout]",
    )
    stderr: str | None = Field(
        default=None,
        description="its stored errors; only when named, e.g. fields=attempts[__default__,stderr]",
    )

    @classmethod
    def of(cls, attempt: Attempt, *, with_output: bool = False) -> AttemptOut:
        return cls(
            number=attempt.number,
            message_id=attempt.message_id,
            state=attempt.state.value,
            run_after=attempt.run_after,
            container=attempt.container_id,
            engine=attempt.engine_id,
            status=attempt.status,
            reason=attempt.reason,
            exit_code=attempt.exit_code,
            started_at=attempt.started_at,
            finished_at=attempt.finished_at,
            recorded_at=attempt.recorded_at,
            output_recorded_at=attempt.output_recorded_at,
            stdout=attempt.stdout if with_output else None,
            stderr=attempt.stderr if with_output else None,
        )


class ExecutionOut(BaseModel):
    """An execution; the fields after ``reason`` appear only when asked for with ``fields``."""

    message_id: str
    status: Status
    id: int
    application: str
    job: str
    queue: str
    created_at: datetime
    run_after: datetime
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    reason: str | None
    output_pending: bool = Field(
        default=False,
        description="it has ended, and its output is still being read (for a moment)",
    )
    priority: int = Field(default=0, description="higher runs first among work that is due")
    pending_reason: str | None = None
    message: Any = None
    stdout: str | None = None
    stderr: str | None = None
    html_url: str | None = None
    attempts: list[AttemptOut] | None = None
    retries: list[AttemptOut] | None = None

    @classmethod
    def of(cls, execution: Execution) -> ExecutionOut:
        return cls(
            message_id=execution.message_id,
            status=execution.status,
            id=execution.id,
            application=execution.application,
            job=execution.job,
            queue=execution.queue,
            created_at=execution.created_at,
            run_after=execution.run_after,
            started_at=execution.started_at,
            finished_at=execution.finished_at,
            exit_code=execution.exit_code,
            reason=execution.reason,
            output_pending=execution.output_pending,
            priority=execution.priority,
        )


class OutputOut(BaseModel):
    """An execution's output so far, for following it while it runs."""

    message_id: str
    status: Status
    ended: bool = Field(description="it has ended and its output is stored: nothing more comes")
    attempt: int | None = Field(description="the attempt (0 the first run) the output is of")
    live: bool = Field(
        description="the running attempt's output read from its engine now (its end, at most "
        "PITMASTER_LIVE_OUTPUT_BYTES a stream); false: the last ended attempt's stored output"
    )
    stdout: str
    stderr: str


class ExecutionList(BaseModel):
    items: list[ExecutionOut]
    next_cursor: str | None


class WorkerOut(BaseModel):
    id: str
    host: str
    engine: str | None
    queues: list[str] | None
    started_at: datetime
    last_seen_at: datetime
    alive: bool
    healthy: bool = Field(description="false while one of its loops keeps failing")
    unhealthy_reason: str | None = Field(description="which loop keeps failing, and why")
    running: int


class ErrorOut(BaseModel):
    error: str


class TokenCreate(Input):
    """A new token: for ``app`` (it may use only that app's executions), else an admin token."""

    app: Name | None = None
    description: Annotated[str, StringConstraints(pattern=_PRINTABLE, max_length=1000)] = ""


class TokenCreated(TokenOut):
    token: str = Field(description="the token itself: shown only in this answer")


# What any request may be answered: no or a wrong token, not for this token, too many
# requests, or the database unavailable.
_ALWAYS = (401, 403, 429, 503)
# What a request with a body may be answered too: malformed or with a field it does not
# take (400), too large (413), a field with a bad value (422).
WITH_BODY = (400, 413, 422)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses and those any request may get."""
    return {code: {"model": ErrorOut} for code in sorted({*codes, *_ALWAYS})}


def json_error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``error_responses`` for a route whose own answer is not JSON: its errors still are."""
    error = {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
    return {
        code: {"description": "an error", "content": {"application/json": error}}
        for code in sorted({*codes, *_ALWAYS})
    }
