"""Domain objects: frozen dataclasses built from store rows, and the status enums."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import Enum, StrEnum
from types import UnionType
from typing import Any, Self, Union, get_args, get_origin, get_type_hints
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
# A job definition's policy defaults, in one place: the API's and the console's forms,
# the schema's column defaults and the worker's fallbacks all read these.
RETRY_LIMIT = 0
BASE_DELAY_SECONDS = 15.0
STOP_GRACE_SECONDS = 10.0
DEFAULT_PRIORITY = 0
# Priorities are bounded so that aging (store/claims.py) has a bound to state.
MIN_PRIORITY = -1000
MAX_PRIORITY = 1000


class FromRow:
    """A dataclass built from a store row by field name; each field's type says how to
    read its column (an enum from its value, a tuple from a JSON list, a bool from 0/1).
    A column the row lacks takes the field's default."""

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Self:
        values = {}
        for name, read, default in _readers(cls):
            if name in row:
                value = row[name]
                values[name] = read(value) if value is not None else None
            elif default is not MISSING:
                values[name] = default
            else:
                raise KeyError(f"{cls.__name__}.from_row: the row has no {name!r}")
        return cls(**values)


def _identity(value: Any) -> Any:
    return value


def _reader(hint: Any) -> Callable[[Any], Any]:
    """How to read a column into a field of type ``hint`` (``None`` is read as None)."""
    if get_origin(hint) in (UnionType, Union):
        present = [arg for arg in get_args(hint) if arg is not type(None)]
        return _reader(present[0]) if len(present) == 1 else _identity
    if get_origin(hint) is tuple:
        return tuple
    if isinstance(hint, type) and issubclass(hint, Enum | bool):
        return hint
    return _identity


_Readers = tuple[tuple[str, Callable[[Any], Any], Any], ...]
_READERS: dict[type, _Readers] = {}


def _readers(cls: type) -> _Readers:
    """Each field's name, reader and default, worked out once per class."""
    readers = _READERS.get(cls)
    if readers is None:
        hints = get_type_hints(cls)
        readers = _READERS[cls] = tuple(
            (
                item.name,
                _reader(hints[item.name]),
                item.default_factory() if item.default_factory is not MISSING else item.default,
            )
            for item in fields(cls)
        )
    return readers


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


# Each way a job name can be wrong, in the order they are checked, with what is said.
_NAME_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda name: not name, "must not be empty"),
    (lambda name: len(name) > NAME_MAX_LENGTH, f"must be at most {NAME_MAX_LENGTH} characters"),
    (lambda name: "/" in name, "must not contain '/' (it separates the parts of a URL)"),
    (
        lambda name: any(category(char) in _UNSAFE_CATEGORIES for char in name),
        "must not contain control or invisible formatting characters",
    ),
    (lambda name: name != name.strip(), "must not start or end with whitespace"),
    (lambda name: set(name) == {"."}, "cannot be only dots: it reads as a path"),
)


def job_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a job's name, or None when it can.

    barbeque's job column takes any text up to 255 characters, and ActiveJob sends
    class names such as ``Admin::NotifyJob``. A job name appears in URLs, container
    labels and the job's environment (never in a container's name, which comes from
    the attempt id), so it may hold any printable character except ``/``.
    """
    return next((problem for breaks, problem in _NAME_RULES if breaks(name)), None)


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


# The one set of each: an execution in a terminal status has ended for good (unless
# retried by hand); an active one waits or runs; a retryable one may be retried by hand.
TERMINAL_STATUSES = frozenset({Status.SUCCESS, Status.FAILED, Status.ERROR, Status.CANCELLED})
ACTIVE_STATUSES = frozenset(Status) - TERMINAL_STATUSES
RETRYABLE_STATUSES = frozenset({Status.FAILED, Status.ERROR, Status.CANCELLED})


def status_values(statuses: Iterable[Status]) -> list[str]:
    """Statuses as the database stores them, in a stable order (for ``IN`` clauses)."""
    return sorted(status.value for status in statuses)


class EndingReason(StrEnum):
    """The reasons of an ending that mean something to pitmaster (stored as these values).

    Any other reason is free text for people: ``exited 3``, an error's own words.
    """

    OOM = "oom"  # the engine killed it for using too much memory
    LOST = "lost"  # its container disappeared
    TIMEOUT = "timeout"  # it ran past timeout_seconds
    CANCELLED = "cancelled"  # someone cancelled it

    @property
    def overrides_a_stop(self) -> bool:
        """An ending the engine caused, which a timeout asked for meanwhile does not replace."""
        return self in (EndingReason.OOM, EndingReason.LOST)


class AttemptState(StrEnum):
    """Where one run of an execution is: waiting, claimed, running in a container, or ended."""

    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    ENDED = "ended"


class MarkResult(StrEnum):
    """What became of a runner's report that its container started."""

    RUNNING = "running"  # stored: the attempt now runs in this container
    ALREADY_RUNNING = "already running"  # another runner adopted the container and stored it
    ENDED = "ended"  # the attempt ended before any container was stored (cancelled): remove it


@dataclass(frozen=True)
class App(FromRow):
    id: int
    name: str
    docker_image: str
    description: str
    max_concurrent_executions: int | None
    revision_lock: str | None
    created_at: datetime
    updated_at: datetime
    # Paused: none of its work starts until it is resumed; running work goes on.
    paused_at: datetime | None = None
    pause_reason: str | None = None

    @property
    def image_to_run(self) -> str:
        return image_at_revision(self.docker_image, self.revision_lock)


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
class JobDefinition(FromRow):
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
    # The priority of an execution whose enqueue names none (None: DEFAULT_PRIORITY).
    priority: int | None = None


@dataclass(frozen=True)
class AppSecret:
    """A secret's name and times; its value is never read back out."""

    app: str
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class JobQueue(FromRow):
    id: int
    name: str
    description: str
    max_concurrent_executions: int | None
    created_at: datetime
    updated_at: datetime
    paused_at: datetime | None = None
    pause_reason: str | None = None


@dataclass(frozen=True)
class Execution(FromRow):
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
    # The schedule that made it, and the tick it ran for (PITMASTER_SCHEDULED_AT).
    schedule_id: int | None = None
    scheduled_at: datetime | None = None
    # Higher runs first among work that is due (store/claims.py).
    priority: int = 0


@dataclass(frozen=True)
class ExecutionFilter:
    """Which executions a list or a bulk retry is about; None matches any."""

    application: str | None = None
    job: str | None = None
    queue: str | None = None
    status: Status | None = None
    # The app by identity (what an app token sees): a deleted app's executions have none.
    app_id: int | None = None
    # The console's search: message_ids starting with this, enqueued in [created_from, created_to).
    message_id_prefix: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    # The schedule that made them.
    schedule_id: int | None = None


@dataclass(frozen=True)
class ExecutionPage:
    items: list[Execution]
    next_cursor: str | None


# One bulk retry retries at most this many executions (the rest: call again), this many
# per write transaction (about a third of a second on SQLite).
BULK_RETRY_LIMIT = 5000
BULK_RETRY_BATCH = 500


@dataclass(frozen=True)
class BulkRetry:
    """What one bulk retry did: ``matched`` the filter when it began, ``retried`` of them,
    ``remaining`` past this call's limit, to resume with ``after_id=next_after_id``."""

    matched: int
    retried: int
    remaining: int
    next_after_id: int | None


@dataclass(frozen=True)
class Attempt(FromRow):
    """One run of an execution in one container (see ``container_name``)."""

    id: int
    execution_id: int
    number: int
    message_id: str
    state: AttemptState
    run_after: datetime | None
    worker_id: str | None
    engine_id: str | None
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
    stop_requested_at: datetime | None = None  # when a cancel or a timeout asked it to stop
    stop_signalled_at: datetime | None = None  # when the engine was told to stop it (SIGTERM)


@dataclass(frozen=True)
class WorkerInfo(FromRow):
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

    def serves(self, queue: str) -> bool:
        return self.queues is None or queue in self.queues


@dataclass(frozen=True)
class ClaimOrder:
    """How a runner picks the next execution among those due (docs/scheduling.md).

    Highest priority first, then the oldest. With ``fair_share``, among work
    of equal priority in a queue, the app whose last claim there is oldest
    goes first. With ``aging_seconds``, work that has waited that long goes
    before all work that has not, oldest first: no priority starves it longer.
    """

    fair_share: bool = False
    aging_seconds: float | None = None


# Priority, then age; no turns between apps, no aging.
ORDER_BY_PRIORITY = ClaimOrder()


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
    stop_grace_seconds: float = STOP_GRACE_SECONDS
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
class ApiToken(FromRow):
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


@dataclass(frozen=True)
class Backlog:
    """What waits and what runs now, for metrics."""

    pending_by_queue: dict[str, int]
    pending_by_app: dict[str, int]
    running_by_queue: dict[str, int]
    running_by_app: dict[str, int]
    oldest_pending_seconds: dict[str, float]


@dataclass(frozen=True)
class PeerWorker:
    """Another live worker that reports the same engine identity."""

    id: str
    host: str
    started_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class Stranded:
    """An attempt left on an engine no worker has reached for too long."""

    attempt_id: int
    message_id: str
    engine: str
    silent_since: datetime


@dataclass(frozen=True)
class SealedSecret:
    """One stored secret as the key rotation sees it: where it is, and its sealed value."""

    id: int
    app: str
    name: str
    ciphertext: str


@dataclass(frozen=True)
class AppSummary:
    app: App
    jobs: int
    running: int
    failed_recently: int


@dataclass(frozen=True)
class QueueSummary:
    """A queue's work now: ``ready`` is due and waits for a slot, ``delayed`` is scheduled
    for later (a delayed enqueue, a retry's backoff) and is no backlog yet."""

    queue: JobQueue
    ready: int
    delayed: int
    running: int
    oldest_ready_at: datetime | None  # when the longest-waiting ready work became due
    oldest_pending: Execution | None  # the next a runner would take, ready or not

    @property
    def pending(self) -> int:
        return self.ready + self.delayed


@dataclass(frozen=True)
class HourlyBucket:
    """Executions of one hour that share a key (a status, or ``app/job``)."""

    hour: datetime
    key: str
    count: int
    average_seconds: float | None


def hours_between(since: datetime, until: datetime) -> list[datetime]:
    """The start of every hour from the one holding ``since`` to the one holding ``until``."""
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour <= until:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


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
