"""Test helpers that ship with the package: an in-memory executor for unit tests of logic.

``FakeExecutor`` keeps containers in a dict and lets a test decide when each
one exits; it never touches Docker. Integration tests use the real engine.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pitmaster.errors import ExecutorError, ImageUnavailable
from pitmaster.executors.base import (
    LIVE_TAIL_LINES,
    ContainerState,
    ExitEvent,
    Logs,
    Observation,
    RunSpec,
    Started,
)


@dataclass
class FakeContainer:
    handle: str
    spec: RunSpec
    started_at: datetime
    state: ContainerState = ContainerState.RUNNING
    exit_code: int | None = None
    finished_at: datetime | None = None
    oom_killed: bool = False
    stdout: str = ""
    stderr: str = ""
    obeys_sigterm: bool = True
    signals: list[str] = field(default_factory=list)


@dataclass
class CallCounts:
    start: int = 0
    observe: int = 0
    observe_one: int = 0
    logs: int = 0
    remove: int = 0
    created: int = 0
    exits: int = 0


class _FakeExitStream:
    def __init__(self, events: queue.Queue[ExitEvent | None]) -> None:
        self._events = events

    def __iter__(self) -> Iterator[ExitEvent]:
        while (event := self._events.get()) is not None:
            yield event

    def close(self) -> None:
        self._events.put(None)


@dataclass
class FakeExecutor:
    """An engine in memory. ``finish(name, exit_code)`` makes a container exit."""

    engine: str = "fake-engine"
    missing_images: set[str] = field(default_factory=set)
    unreachable: bool = False
    containers: dict[str, FakeContainer] = field(default_factory=dict)
    # Probes left on this engine; two fakes sharing one set are one engine seen twice.
    probes: set[str] = field(default_factory=set)
    calls: CallCounts = field(default_factory=CallCounts)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _events: queue.Queue[ExitEvent | None] = field(default_factory=queue.Queue)

    def _check_reachable(self) -> None:
        if self.unreachable:
            raise ExecutorError("fake engine is unreachable")

    def engine_id(self) -> str:
        self._check_reachable()
        return self.engine

    def describe(self) -> str:
        return f"fake engine {self.engine}"

    def ping(self) -> None:
        self._check_reachable()

    def make_probe(self, probe: str) -> None:
        self._check_reachable()
        self.probes.add(probe)

    def has_probe(self, probe: str) -> bool:
        self._check_reachable()
        return probe in self.probes

    def remove_probe(self, probe: str) -> None:
        self.probes.discard(probe)

    def attempt_containers(self, installation: str) -> dict[str, int]:
        self._check_reachable()
        with self._lock:
            return {
                c.handle: int(c.spec.labels["pitmaster.attempt"])
                for c in self.containers.values()
                if c.spec.labels.get("pitmaster.installation") == installation
            }

    def start(self, spec: RunSpec) -> Started:
        self._check_reachable()
        with self._lock:
            self.calls.start += 1
            if spec.image in self.missing_images:
                raise ImageUnavailable(f"image {spec.image!r} is not present")
            container = self.containers.get(spec.name)
            if container is not None:  # adopted: like Docker, its start time is read back
                return Started(handle=container.handle, started_at=container.started_at)
            self.calls.created += 1
            container = FakeContainer(
                handle=f"id-{spec.name}", spec=spec, started_at=datetime.now(UTC)
            )
            self.containers[spec.name] = container
            return Started(handle=container.handle)

    def by_handle(self, handle: str) -> FakeContainer | None:
        return next((c for c in self.containers.values() if c.handle == handle), None)

    def observe(self, handles: Collection[str]) -> dict[str, Observation]:
        self._check_reachable()
        with self._lock:
            self.calls.observe += 1
            wanted = set(handles)
            return {
                c.handle: _observation_of(c) for c in self.containers.values() if c.handle in wanted
            }

    def observe_one(self, handle: str) -> Observation | None:
        self._check_reachable()
        with self._lock:
            self.calls.observe_one += 1
            container = self.by_handle(handle)
            return _observation_of(container) if container is not None else None

    def logs(self, handle: str, limit: int) -> Logs:
        self._check_reachable()
        self.calls.logs += 1
        container = self.by_handle(handle)
        if container is None:
            return Logs(stdout="", stderr="")
        return Logs(stdout=container.stdout[-limit:], stderr=container.stderr[-limit:])

    def recent_logs(self, handle: str, limit: int) -> Logs:
        self._check_reachable()
        self.calls.logs += 1
        container = self.by_handle(handle)
        if container is None:
            return Logs(stdout="", stderr="")

        def tail(text: str) -> str:
            return "".join(text.splitlines(keepends=True)[-LIVE_TAIL_LINES:])[-limit:]

        return Logs(stdout=tail(container.stdout), stderr=tail(container.stderr))

    def kill(self, handle: str, signal: str) -> None:
        """Record the signal; SIGKILL ends the container (137), SIGTERM if it obeys (143)."""
        self._check_reachable()
        container = self.by_handle(handle)
        if container is None or container.state is not ContainerState.RUNNING:
            return
        container.signals.append(signal)
        if signal == "SIGKILL":
            self._exit(container, 137)
        elif container.obeys_sigterm:
            self._exit(container, 143)

    def remove(self, handle: str) -> None:
        self._check_reachable()
        with self._lock:
            self.calls.remove += 1
            for name, container in list(self.containers.items()):
                if handle in (container.handle, name):
                    del self.containers[name]

    def exits(self) -> _FakeExitStream:
        self._check_reachable()
        self.calls.exits += 1
        return _FakeExitStream(self._events)

    # -- what tests call ------------------------------------------------------

    def finish(
        self, name: str, exit_code: int = 0, stdout: str = "", stderr: str = "", oom: bool = False
    ) -> None:
        """Make the container named ``name`` exit now, with this code and output."""
        container = self.containers[name]
        container.stdout, container.stderr, container.oom_killed = stdout, stderr, oom
        self._exit(container, exit_code)

    def _exit(self, container: FakeContainer, exit_code: int) -> None:
        container.state = ContainerState.EXITED
        container.exit_code = exit_code
        container.finished_at = datetime.now(UTC)
        self._events.put(
            ExitEvent(container.handle, exit_code, container.finished_at, container.oom_killed)
        )


def _observation_of(container: FakeContainer) -> Observation:
    ended = container.state is ContainerState.EXITED
    return Observation(
        state=container.state,
        exit_code=container.exit_code,
        started_at=container.started_at if ended else None,
        finished_at=container.finished_at,
        oom_killed=container.oom_killed,
    )
