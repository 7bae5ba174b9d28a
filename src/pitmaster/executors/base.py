"""The executor protocol: the narrow boundary between pitmaster's logic and a container engine."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pitmaster.errors import ExecutorError


class StartFailed(ExecutorError):
    """The engine refused to start this attempt's container (a bad command, say): final."""


@dataclass(frozen=True)
class RunSpec:
    """Everything an engine needs to run one attempt; built by the runner from a claim."""

    name: str
    image: str
    command: tuple[str, ...]
    environment: Mapping[str, str]
    labels: Mapping[str, str]
    # Copied into the container before it starts; they may hold secrets, so never shown.
    files: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    file_modes: Mapping[str, int] = field(default_factory=dict)  # by path; default 0o644
    memory: int | None = None  # bytes; the engine kills the job (OOM) beyond it
    pids_limit: int | None = None  # processes and threads the job may have at once
    cpu_shares: int | None = None  # relative CPU weight (Docker's default is 1024)
    cpus: float | None = None  # most CPUs the job may use at once (a hard cap)
    log_max_bytes: int | None = None  # what the engine keeps of each stream
    network: str | None = None  # a Docker network, "none"; None: the engine's default bridge


@dataclass(frozen=True)
class Started:
    handle: str
    # Docker's StartedAt when the engine told it (an adopted container); otherwise
    # None, and the exit's observation brings it (one call fewer per job).
    started_at: datetime | None = None


class ContainerState(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"


@dataclass(frozen=True)
class Observation:
    """What the engine says of one container; exit details only once it has exited."""

    state: ContainerState
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    oom_killed: bool = False
    error: str | None = None


@dataclass(frozen=True)
class Logs:
    stdout: str
    stderr: str


@dataclass(frozen=True)
class ExitEvent:
    """What the engine says when a container exits, before anyone asks it about the container.

    ``exit_code`` None: the event did not say, and the container must be inspected.
    """

    handle: str
    exit_code: int | None = None
    at: datetime | None = None  # the engine's time of the exit
    oom_killed: bool = False


class ExitStream(Protocol):
    """Containers as they exit; may drop events, so the periodic sweep stays the safety net."""

    def __iter__(self) -> Iterator[ExitEvent]: ...

    def close(self) -> None: ...


# How many lines of a running job's output one live read asks the engine for.
LIVE_TAIL_LINES = 2000


class LogReader(Protocol):
    """All the server needs of an engine: a capped tail of a running job's output so far.

    The server never starts, stops or inspects containers (the worker does); it only
    shows the output of a job still running on the engine of the worker beside it.
    """

    def engine_id(self) -> str:
        """The identity pitmaster keeps on the engine, stored with each attempt it claims.

        Unique per engine even where hosts were cloned (they share Docker's ID):
        an attempt claimed here may only ever be taken over by a worker on it.
        """
        ...

    def recent_logs(self, handle: str, limit: int) -> Logs:
        """The end of a running container's output: its last ``LIVE_TAIL_LINES`` lines, of
        which the last ``limit`` bytes, read without going through what came before."""
        ...


class Executor(LogReader, Protocol):
    def describe(self) -> str:
        """The engine as people know it (address, host name), for messages and the console."""
        ...

    def ping(self) -> None:
        """Raise ExecutorError unless the engine answers now."""
        ...

    def make_probe(self, probe: str) -> None:
        """Leave a mark named ``probe`` on the engine (see ``worker/identity.py``)."""
        ...

    def has_probe(self, probe: str) -> bool: ...

    def remove_probe(self, probe: str) -> None: ...

    def attempt_containers(self, installation: str) -> dict[str, int]:
        """Every container of this installation on the engine, in one listing: handle to attempt."""
        ...

    def start(self, spec: RunSpec) -> Started:
        """Create and start the container; idempotent per ``spec.name`` (adopts a twin)."""
        ...

    def observe(self, handles: Collection[str]) -> dict[str, Observation]:
        """The state of each handle still known to the engine, in one listing."""
        ...

    def observe_one(self, handle: str) -> Observation | None:
        """The state of one container (just seen to exit); None when it is gone."""
        ...

    def logs(self, handle: str, limit: int) -> Logs: ...

    def kill(self, handle: str, signal: str) -> None:
        """Send a signal ("SIGTERM", "SIGKILL") to the container's main process."""
        ...

    def remove(self, handle: str) -> None: ...

    def exits(self) -> ExitStream: ...
