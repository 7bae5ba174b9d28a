"""Domain objects: frozen dataclasses built from store rows, and the status enums."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from unicodedata import category

NAME_MAX_LENGTH = 255
DEFAULT_QUEUE = "default"
MAX_DELAY_SECONDS = 30 * 24 * 3600
# A message's size as compact UTF-8 JSON; enqueue refuses larger ones (413).
MAX_MESSAGE_BYTES = 256 * 1024
# How deeply a message's arrays and objects may nest; enqueue refuses deeper ones (422).
MAX_MESSAGE_DEPTH = 64
# The most rows one page of any list (API or console) holds.
MAX_PAGE_SIZE = 500
# One environment string may hold at most 128 KiB on Linux (MAX_ARG_STRLEN): the most
# of a message, as UTF-8 JSON, that BARBEQUE_MESSAGE carries.
MESSAGE_ENV_LIMIT = 120 * 1024
# barbeque's delays (SQS's): 0 to 900 seconds; pitmaster takes longer ones too.
BARBEQUE_MAX_DELAY_SECONDS = 900


class MessageDelivery(StrEnum):
    """How a job definition's jobs get their message.

    ``env``: always in BARBEQUE_MESSAGE, as barbeque does (a larger message is refused
    at enqueue); ``file``: always in a file named by PITMASTER_MESSAGE_FILE; ``auto``:
    the environment when it fits, else the file.
    """

    ENV = "env"
    FILE = "file"
    AUTO = "auto"


# Unicode categories no job name may hold: controls, format characters (such as the
# bidirectional overrides), surrogates, private use, unassigned, line and paragraph breaks.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def job_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a job's name, or None when it can.

    barbeque's job column takes any text up to 255 characters, and ActiveJob sends
    class names such as ``Admin::NotifyJob``. A job name appears in URLs, container
    labels and the job's environment (never in a container's name, which comes from
    the attempt id), so it may hold any printable character except ``/``.
    """
    if not name:
        return "must not be empty"
    if len(name) > NAME_MAX_LENGTH:
        return f"must be at most {NAME_MAX_LENGTH} characters"
    if "/" in name:
        return "must not contain '/' (it separates the parts of a URL)"
    if any(category(char) in _UNSAFE_CATEGORIES for char in name):
        return "must not contain control or invisible formatting characters"
    if name != name.strip():
        return "must not start or end with whitespace"
    if set(name) == {"."}:
        return "cannot be only dots: it reads as a path"
    return None


class Status(StrEnum):
    """The status of a job execution (barbeque's names, plus ``cancelled``)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    RETRIED = "retried"
    ERROR = "error"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({Status.SUCCESS, Status.FAILED, Status.ERROR, Status.CANCELLED})


class AttemptState(StrEnum):
    """Where one run of an execution is: waiting, claimed, running in a container, or ended."""

    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    ENDED = "ended"


@dataclass(frozen=True)
class App:
    id: int
    name: str
    docker_image: str
    description: str
    max_concurrent_executions: int | None
    revision_lock: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def image_to_run(self) -> str:
        return image_at_revision(self.docker_image, self.revision_lock)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> App:
        return cls(
            id=row["id"],
            name=row["name"],
            docker_image=row["docker_image"],
            description=row["description"],
            max_concurrent_executions=row["max_concurrent_executions"],
            revision_lock=row["revision_lock"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


def image_at_revision(docker_image: str, revision: str | None) -> str:
    """The image with its tag (or digest) replaced by ``revision``, if one is locked."""
    if revision is None:
        return docker_image
    repository = docker_image.split("@", 1)[0]
    name_start = repository.rfind("/") + 1
    tag_at = repository.rfind(":")
    if tag_at > name_start:  # a ':' after the last '/' starts the tag, not a registry port
        repository = repository[:tag_at]
    return f"{repository}:{revision}"


@dataclass(frozen=True)
class JobDefinition:
    """What a job runs, and its policies: retries, timeout, and its container's resources."""

    id: int
    app: str
    job: str
    command: tuple[str, ...]
    description: str
    retry_limit: int
    base_delay: float
    max_delay: float | None
    jitter: bool
    retry_on: tuple[str, ...] | None
    retry_exit_codes: tuple[int, ...] | None
    timeout_seconds: float | None
    stop_grace_seconds: float
    memory: int | None
    cpus: float | None
    pids_limit: int | None
    network: str | None  # a Docker network; None: the engine's default bridge
    created_at: datetime
    updated_at: datetime
    message_delivery: MessageDelivery = MessageDelivery.AUTO

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> JobDefinition:
        return cls(
            id=row["id"],
            app=row["app"],
            job=row["job"],
            command=tuple(row["command"]),
            description=row["description"],
            retry_limit=row["retry_limit"],
            base_delay=row["base_delay"],
            max_delay=row["max_delay"],
            jitter=bool(row["jitter"]),
            retry_on=_tuple_or_none(row["retry_on"]),
            retry_exit_codes=_tuple_or_none(row["retry_exit_codes"]),
            timeout_seconds=row["timeout_seconds"],
            stop_grace_seconds=row["stop_grace_seconds"],
            memory=row["memory"],
            cpus=row["cpus"],
            pids_limit=row["pids_limit"],
            network=row["network"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            message_delivery=MessageDelivery(row["message_delivery"]),
        )


def _tuple_or_none(value: Any) -> tuple[Any, ...] | None:
    return tuple(value) if value is not None else None


@dataclass(frozen=True)
class AppSecret:
    """A secret's name and times; its value is never read back out."""

    app: str
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class JobQueue:
    id: int
    name: str
    description: str
    max_concurrent_executions: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> JobQueue:
        return cls(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            max_concurrent_executions=row["max_concurrent_executions"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class Execution:
    """One enqueued message and how it ended; its output lives on its attempts."""

    id: int
    message_id: str
    application: str
    job: str
    queue: str
    message: Any
    status: Status
    reason: str | None
    exit_code: int | None
    created_at: datetime
    run_after: datetime
    started_at: datetime | None
    finished_at: datetime | None
    # Its last attempt ended (from the exit event); its output is being read.
    output_pending: bool = False
    # The app it belongs to, by identity; None once that app has been deleted.
    app_id: int | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Execution:
        return cls(
            id=row["id"],
            message_id=row["message_id"],
            application=row["application"],
            job=row["job"],
            queue=row["queue"],
            message=row["message"],
            status=Status(row["status"]),
            reason=row["reason"],
            exit_code=row["exit_code"],
            created_at=row["created_at"],
            run_after=row["run_after"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            output_pending=bool(row["output_pending"]),
            app_id=row.get("app_id"),
        )


@dataclass(frozen=True)
class Attempt:
    """One run of an execution in one container (see ``container_name``)."""

    id: int
    execution_id: int
    number: int
    message_id: str
    state: AttemptState
    run_after: datetime | None
    worker_id: str | None
    docker_host: str | None
    container_id: str | None
    started_at: datetime | None
    finished_at: datetime | None
    recorded_at: datetime | None
    exit_code: int | None
    status: Status | None
    reason: str | None
    stdout: str | None
    stderr: str | None
    stop_reason: str | None
    output_pending: bool = False  # ended from its exit event; the output is being read
    output_recorded_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Attempt:
        return cls(
            id=row["id"],
            execution_id=row["execution_id"],
            number=row["number"],
            message_id=row["message_id"],
            state=AttemptState(row["state"]),
            run_after=row["run_after"],
            worker_id=row["worker_id"],
            docker_host=row["docker_host"],
            container_id=row["container_id"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            recorded_at=row["recorded_at"],
            exit_code=row["exit_code"],
            status=Status(row["status"]) if row["status"] else None,
            reason=row["reason"],
            stdout=row["stdout"],
            stderr=row["stderr"],
            stop_reason=row["stop_reason"],
            output_pending=bool(row["output_pending"]),
            output_recorded_at=row["output_recorded_at"],
        )


@dataclass(frozen=True)
class WorkerInfo:
    """A worker's last heartbeat; ``queues`` None means it serves every queue."""

    id: str
    host: str
    engine: str | None
    queues: tuple[str, ...] | None
    started_at: datetime
    last_seen_at: datetime
    running: int
    healthy: bool = True
    unhealthy_reason: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> WorkerInfo:
        queues = row["queues"]
        return cls(
            id=row["id"],
            host=row["host"],
            engine=row["engine"],
            queues=tuple(queues) if queues is not None else None,
            started_at=row["started_at"],
            last_seen_at=row["last_seen_at"],
            running=row["running"],
            healthy=bool(row.get("healthy", True)),
            unhealthy_reason=row.get("unhealthy_reason"),
        )

    def serves(self, queue: str) -> bool:
        return self.queues is None or queue in self.queues


@dataclass(frozen=True)
class Claim:
    """What a runner needs to start one attempt, taken under a lease."""

    installation: str
    attempt_id: int
    attempt_number: int
    attempt_message_id: str
    execution: Execution
    docker_image: str | None
    command: tuple[str, ...] | None
    memory: int | None = None
    cpus: float | None = None
    pids_limit: int | None = None
    network: str | None = None
    # The app's secrets by name, still sealed: the runner opens them.
    sealed_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    message_delivery: MessageDelivery = MessageDelivery.AUTO
    # When this attempt was queued: the enqueue, or the retry (BARBEQUE_SENT_TIMESTAMP).
    attempt_queued_at: datetime | None = None

    @property
    def container_name(self) -> str:
        return container_name(self.installation, self.attempt_id)


@dataclass(frozen=True)
class RunningAttempt:
    """A started attempt the poller has to watch until it ends, and any stop asked of it."""

    attempt_id: int
    execution_id: int
    message_id: str
    container_id: str
    started_at: datetime | None = None
    timeout_seconds: float | None = None
    stop_grace_seconds: float = 10.0
    stop_reason: str | None = None
    stop_signalled_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended, as recorded: what the poller hands to the store."""

    status: Status
    reason: str
    exit_code: int | None = None  # None: the job never ran, or its container is gone
    finished_at: datetime | None = None
    stdout: str = ""
    stderr: str = ""
    # Docker's StartedAt, read with the exit: it replaces the time stored at start.
    started_at: datetime | None = None


@dataclass(frozen=True)
class Output:
    """What an attempt ended from its exit event gets afterwards: output and Docker's times."""

    stdout: str
    stderr: str
    started_at: datetime | None = None
    finished_at: datetime | None = None


def container_name(installation: str, attempt_id: int) -> str:
    """The one name an attempt's container can have: creating it twice conflicts."""
    return f"pitmaster-{installation}-{attempt_id}"


class TokenKind(StrEnum):
    """What an API token may do: everything (admin), or one app's executions (app)."""

    ADMIN = "admin"
    APP = "app"


@dataclass(frozen=True)
class ApiToken:
    """A stored API token: never its secret, only the SHA-256 of the whole token."""

    id: str
    kind: TokenKind
    app: str | None
    description: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    token_hash: str = field(repr=False)
    # The app of an app token, by identity (its name may be reused once it is deleted).
    app_id: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ApiToken:
        return cls(
            id=row["id"],
            kind=TokenKind(row["kind"]),
            app=row["app"],
            description=row["description"],
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
            revoked_at=row["revoked_at"],
            token_hash=row["token_hash"],
            app_id=row.get("app_id"),
        )


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar: 0), without recursing."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def readable_message(message: Any) -> Any:
    """A stored message as it can be answered: one nested deeper than enqueue now
    takes (stored before the limit) comes back as its JSON text, or a note if even
    that cannot be made."""
    if json_depth(message) <= MAX_MESSAGE_DEPTH:
        return message
    try:
        return json.dumps(message, ensure_ascii=False)
    except (RecursionError, ValueError):
        return f"(a message nested more than {MAX_MESSAGE_DEPTH} levels deep)"
