"""What the operations take as input, checked by one set of rules for the API and the console."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    create_model,
)
from pydantic.json_schema import SkipJsonSchema

from pitmaster.app_secrets import (
    SECRET_NAME_PATTERN,
)
from pitmaster.cron import DEFAULT_CATCH_UP_LIMIT, MAX_CATCH_UP_LIMIT, MissedTicks
from pitmaster.errors import InvalidInput
from pitmaster.models import (
    BASE_DELAY_SECONDS,
    DEFAULT_QUEUE,
    MAX_DELAY_SECONDS,
    MAX_PRIORITY,
    MIN_PRIORITY,
    NAME_MAX_LENGTH,
    RETRY_LIMIT,
    STOP_GRACE_SECONDS,
    MessageDelivery,
    job_name_problem,
)
from pitmaster.retry import Ending

_NAME = r"^[A-Za-z0-9_.-]+$"
# Text the database and the engine can both carry: no NUL, no C0 control but tab and newline.
_PRINTABLE = r"^[^\x00-\x08\x0b-\x1f\x7f]*$"
_IMAGE = r"^[^\s\x00-\x1f\x7f]+$"
_NETWORK = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
NAME_PATTERN = _NAME
PRINTABLE_PATTERN = _PRINTABLE
PATTERN_MEANINGS = {
    _NAME: "must match [A-Za-z0-9_.-]+",
    _PRINTABLE: "must not contain control characters such as NUL or ESC",
    _IMAGE: "must be an image reference, without spaces or control characters",
    _NETWORK: "must be bridge, none or the name of a Docker network ([A-Za-z0-9][A-Za-z0-9_.-]*)",
    SECRET_NAME_PATTERN: "must match [A-Za-z_][A-Za-z0-9_]* (a letter or _, then letters, "
    "digits or _)",
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


def _a_job_name(name: str) -> str:
    problem = job_name_problem(name)
    if problem is not None:
        raise ValueError(f"a job name {problem}")
    return name


def job_name_filter(name: str | None) -> str | None:
    return None if name is None else _a_job_name(name)


# A job's name: barbeque takes any text, and ActiveJob sends class names (Admin::NotifyJob).
JobName = Annotated[str, StringConstraints(max_length=NAME_MAX_LENGTH), AfterValidator(_a_job_name)]
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
    docker_image: DockerImage | SkipJsonSchema[None] = None
    description: Description | SkipJsonSchema[None] = None
    max_concurrent_executions: Limit = None


def _not_the_host_network(network: str) -> str:
    if network.casefold() == "host":
        raise ValueError(
            "network 'host' would give the job the host's own network stack; use bridge, "
            "none or a Docker network of your own"
        )
    return network


Network = Annotated[
    str,
    StringConstraints(pattern=_NETWORK, min_length=1, max_length=255),
    AfterValidator(_not_the_host_network),
]
Cpus = Annotated[float, Field(ge=0.01, le=1024, allow_inf_nan=False)]
PidsLimit = Annotated[StrictInt, Field(ge=16, le=4_194_304)]
# Higher runs first; aging (docs/scheduling.md) bounds how long lower work waits.
Priority = Annotated[StrictInt, Field(ge=MIN_PRIORITY, le=MAX_PRIORITY)]
Seconds = Annotated[float, Field(ge=0, le=MAX_DELAY_SECONDS, allow_inf_nan=False)]
ExitCode = Annotated[StrictInt, Field(ge=1, le=255)]
MIN_MEMORY = 6 * 1024 * 1024  # Docker refuses less
MAX_MEMORY = 1024**4  # 1 TiB: beyond any host's memory, and within Docker's int64


class JobPolicy(BaseModel):
    """Retries, timeout and memory of a job definition (create: all optional, with defaults)."""

    retry_limit: StrictInt = Field(
        default=RETRY_LIMIT, ge=0, le=100, description="retries after the first"
    )
    base_delay: Seconds = Field(
        default=BASE_DELAY_SECONDS, description="seconds before the first retry"
    )
    max_delay: Seconds | None = Field(default=None, description="cap on the delay between retries")
    jitter: StrictBool = Field(default=False, description="wait uniform(0, delay) instead")
    retry_on: list[Ending] | None = Field(
        default=None, description="endings retried: failed, oom, timeout, lost, error (null: all)"
    )
    retry_exit_codes: list[ExitCode] | None = Field(
        default=None, description="with failed: only these exit codes are retried (null: any)"
    )
    timeout_seconds: (
        Annotated[float, Field(gt=0, le=MAX_DELAY_SECONDS, allow_inf_nan=False)] | None
    ) = Field(default=None, description="stop the job (SIGTERM) after this long; null: never")
    stop_grace_seconds: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = Field(
        default=STOP_GRACE_SECONDS, description="seconds between SIGTERM and SIGKILL when stopping"
    )
    memory: Annotated[StrictInt, Field(ge=MIN_MEMORY, le=MAX_MEMORY)] | None = Field(
        default=None, description="memory limit in bytes; beyond it the job is OOM-killed"
    )
    cpus: Cpus | None = Field(
        default=None, description="most CPUs the job may use, e.g. 0.5 (null: the setting's)"
    )
    pids_limit: PidsLimit | None = Field(
        default=None, description="processes and threads the job may have (null: the setting's)"
    )
    network: Network | None = Field(
        default=None,
        description="Docker network: bridge, none or one of your own (null: the engine's bridge)",
    )
    message_delivery: MessageDelivery = Field(
        default=MessageDelivery.AUTO,
        description="env: always BARBEQUE_MESSAGE (as barbeque; a larger message is refused "
        "with 413); file: always the file PITMASTER_MESSAGE_FILE; auto: env when it fits",
    )
    priority: Priority | None = Field(
        default=None,
        description=f"priority of its executions when an enqueue names none ({MIN_PRIORITY} to "
        f"{MAX_PRIORITY}, higher first; null: 0)",
    )


class JobDefinitionCreate(JobPolicy, Input):
    job: JobName
    command: Command
    description: Description = ""


class _JobDefinitionChanges(Update):
    nullable: ClassVar[frozenset[str]] = frozenset(
        {
            "max_delay",
            "retry_on",
            "retry_exit_codes",
            "timeout_seconds",
            "memory",
            "cpus",
            "pids_limit",
            "network",
            "priority",
        }
    )


# Built from a field's type and constraints at run time, which only Any lets mypy accept.
_ANNOTATED: Any = Annotated
_SKIP_JSON_SCHEMA: Any = SkipJsonSchema
_NOT_NULL: Any = _SKIP_JSON_SCHEMA[None]  # a field that may be left out, but not sent as null


def _update_of(
    name: str, create: type[BaseModel], base: type[Update], first: tuple[str, ...], skip: str
) -> type[Update]:
    """An update model of ``create``'s fields (``first`` first, ``skip`` left out): each
    optional and unset unless given, with the same constraints; null only where ``base``
    says a field is nullable (others take null out of the schema, and ``changes`` refuses it).
    """
    names = [*first, *(field for field in create.model_fields if field not in (*first, skip))]
    fields: dict[str, Any] = {}
    for field in names:
        info = create.model_fields[field]
        kind: Any = (
            _ANNOTATED[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        )
        absent: Any = None if field in base.nullable else _NOT_NULL
        fields[field] = (kind | absent, None)
    return create_model(name, __base__=base, __module__=__name__, **fields)


if TYPE_CHECKING:
    JobDefinitionUpdate = _JobDefinitionChanges
else:
    JobDefinitionUpdate = _update_of(
        "JobDefinitionUpdate",
        JobDefinitionCreate,
        _JobDefinitionChanges,
        first=("command", "description"),
        skip="job",
    )


class QueueCreate(Input):
    name: Name
    description: Description = ""
    max_concurrent_executions: Limit = None


class QueueUpdate(Update):
    description: Description | SkipJsonSchema[None] = None
    max_concurrent_executions: Limit = None


# -- topics ---------------------------------------------------------------------------

FILTER_KEYS_MAX = 32
FILTER_VALUES_MAX = 100
FilterScalar = (
    Annotated[str, StringConstraints(max_length=1000)]
    | StrictInt
    | Annotated[float, Field(strict=True, allow_inf_nan=False)]
    | StrictBool
    | None
)
FilterKey = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=_PRINTABLE)]
MessageFilter = Annotated[
    dict[
        FilterKey,
        Annotated[list[FilterScalar], Field(min_length=1, max_length=FILTER_VALUES_MAX)]
        | FilterScalar,
    ],
    Field(max_length=FILTER_KEYS_MAX),
]
Publishers = Annotated[list[Name], Field(max_length=1000)]


class TopicCreate(Input):
    name: Name
    description: Description = ""
    publishers: Publishers = Field(
        default_factory=list,
        description="apps whose tokens may publish to the topic (an admin token always may)",
    )


class TopicUpdate(Input):
    description: Description | None = None
    publishers: Publishers | None = Field(
        default=None, description="replaces the topic's publishers; null: unchanged"
    )


class SubscriptionCreate(Input):
    application: Name
    job: JobName
    queue: Name = Field(default=DEFAULT_QUEUE)
    filter: MessageFilter | None = Field(
        default=None,
        description="top-level keys of the message and the value (or any of the list of "
        "values) each must have; null or {}: every message",
    )


CronExpression = Annotated[
    str,
    StringConstraints(pattern=_PRINTABLE, min_length=1, max_length=255),
    Field(description="5 fields (minute hour day-of-month month day-of-week) or @hourly etc."),
]
TimeZone = Annotated[
    str,
    StringConstraints(pattern=_PRINTABLE, min_length=1, max_length=64),
    Field(description="IANA time zone the cron expression is read in, e.g. Europe/Berlin"),
]
CatchUpLimit = Annotated[
    StrictInt,
    Field(ge=1, le=MAX_CATCH_UP_LIMIT, description="with missed_ticks all: at most this many"),
]


class ScheduleCreate(Input):
    name: Name
    description: Description = ""
    application: Name
    job: JobName
    queue: Name = Field(default=DEFAULT_QUEUE)
    message: Any = Field(default_factory=dict, description="each run's BARBEQUE_MESSAGE")
    cron: CronExpression
    timezone: TimeZone = "UTC"
    missed_ticks: MissedTicks = Field(
        default=MissedTicks.ONCE,
        description="ticks missed while nothing ran: skip, once (one catch-up run) or all",
    )
    catch_up_limit: CatchUpLimit = DEFAULT_CATCH_UP_LIMIT
    paused: StrictBool = False


class ScheduleUpdate(Update):
    description: Description | SkipJsonSchema[None] = None
    application: Name | SkipJsonSchema[None] = None
    job: JobName | SkipJsonSchema[None] = None
    queue: Name | SkipJsonSchema[None] = None
    message: Any = None
    cron: CronExpression | SkipJsonSchema[None] = None
    timezone: TimeZone | SkipJsonSchema[None] = None
    missed_ticks: MissedTicks | SkipJsonSchema[None] = None
    catch_up_limit: CatchUpLimit | SkipJsonSchema[None] = None
