"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
)

from pitmaster.errors import InvalidInput
from pitmaster.models import (
    DEFAULT_QUEUE,
    MAX_DELAY_SECONDS,
    NAME_MAX_LENGTH,
    App,
    Attempt,
    Execution,
    JobDefinition,
    JobQueue,
    Status,
)

_NAME = r"^[A-Za-z0-9_.-]+$"
# Text the database and the engine can both carry: no NUL, no C0 control but tab and newline.
_PRINTABLE = r"^[^\x00-\x08\x0b-\x1f\x7f]*$"
_IMAGE = r"^[^\s\x00-\x1f\x7f]+$"
PATTERN_MEANINGS = {
    _NAME: "must match [A-Za-z0-9_.-]+",
    _PRINTABLE: "must not contain control characters such as NUL or ESC",
    _IMAGE: "must be an image reference, without spaces or control characters",
}


def _not_only_dots(name: str) -> str:
    # "." and ".." cannot be told apart from path segments in a URL.
    if set(name) == {"."}:
        raise ValueError(f"{name!r} cannot be a name: it reads as a path")
    return name


Name = Annotated[
    str,
    StringConstraints(pattern=_NAME, min_length=1, max_length=NAME_MAX_LENGTH),
    AfterValidator(_not_only_dots),
]
DockerImage = Annotated[str, StringConstraints(pattern=_IMAGE, min_length=1, max_length=1024)]
Description = Annotated[str, StringConstraints(pattern=_PRINTABLE, max_length=10_000)]
Argument = Annotated[str, StringConstraints(pattern=_PRINTABLE, max_length=100_000)]


def _names_a_program(command: list[str]) -> list[str]:
    if not command[0].strip():
        raise ValueError("the first element, the program to run, must not be empty")
    return command


Command = Annotated[
    list[Argument], Field(min_length=1, max_length=1000), AfterValidator(_names_a_program)
]


Limit = Annotated[
    StrictInt | None,
    Field(ge=1, le=1_000_000, description="most executions running at once; null: no limit"),
]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Update(Input):
    """A PATCH body: only the fields given change; null clears a limit."""

    nullable: ClassVar[frozenset[str]] = frozenset({"max_concurrent_executions"})

    def changes(self) -> dict[str, Any]:
        given = self.model_dump(exclude_unset=True)
        for field, value in given.items():
            if value is None and field not in self.nullable:
                raise InvalidInput(f"{field} cannot be null")
        return given


class AppCreate(Input):
    name: Name
    docker_image: DockerImage
    description: Description = ""
    max_concurrent_executions: Limit = None


class AppUpdate(Update):
    docker_image: DockerImage | None = None
    description: Description | None = None
    max_concurrent_executions: Limit = None


class AppOut(BaseModel):
    name: str
    docker_image: str
    description: str
    max_concurrent_executions: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, app: App) -> AppOut:
        return cls(
            name=app.name,
            docker_image=app.docker_image,
            description=app.description,
            max_concurrent_executions=app.max_concurrent_executions,
            created_at=app.created_at,
            updated_at=app.updated_at,
        )


class JobDefinitionCreate(Input):
    job: Name
    command: Command
    description: Description = ""


class JobDefinitionUpdate(Update):
    command: Command | None = None
    description: Description | None = None


class JobDefinitionOut(BaseModel):
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
            created_at=definition.created_at,
            updated_at=definition.updated_at,
        )


class QueueCreate(Input):
    name: Name
    description: Description = ""
    max_concurrent_executions: Limit = None


class QueueUpdate(Update):
    description: Description | None = None
    max_concurrent_executions: Limit = None


class QueueOut(BaseModel):
    name: str
    description: str
    max_concurrent_executions: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, queue: JobQueue) -> QueueOut:
        return cls(
            name=queue.name,
            description=queue.description,
            max_concurrent_executions=queue.max_concurrent_executions,
            created_at=queue.created_at,
            updated_at=queue.updated_at,
        )


class EnqueueRequest(Input):
    application: Name
    job: Name
    queue: Name = DEFAULT_QUEUE
    message: Any = None
    delay_seconds: float = Field(default=0, ge=0, le=MAX_DELAY_SECONDS, allow_inf_nan=False)


class EnqueueResponse(BaseModel):
    message_id: str
    status: Status
    id: int


class AttemptOut(BaseModel):
    number: int
    container: str | None
    engine: str | None
    status: Status | None
    reason: str | None
    exit_code: int | None
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        return cls(
            number=attempt.number,
            container=attempt.container_id,
            engine=attempt.docker_host,
            status=attempt.status,
            reason=attempt.reason,
            exit_code=attempt.exit_code,
            started_at=attempt.started_at,
            finished_at=attempt.finished_at,
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
    pending_reason: str | None = None
    message: Any = None
    stdout: str | None = None
    stderr: str | None = None
    html_url: str | None = None
    attempts: list[AttemptOut] | None = None

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
        )


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
    running: int


class ErrorOut(BaseModel):
    error: str
