"""Turning an attempt into a Swarm service, and a Swarm task into an observation: plain logic.

No calls to Docker here: ``executors/swarm.py`` makes them with what this builds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pitmaster.executors.base import ContainerState, Observation, RunSpec
from pitmaster.executors.docker import parse_docker_time

APP_LABEL = "pitmaster.app"
QUEUE_LABEL = "pitmaster.queue"
# Which service an attempt's Swarm secrets belong to: its name, known before it exists.
SERVICE_LABEL = "pitmaster.service"
FILE_OWNER_UID = "0"
FILE_OWNER_GID = "0"

# A task in one of these states has not started its container yet.
_NOT_STARTED = frozenset(
    {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting"}
)
# Ended with a container exit code: the job ran.
_RAN = frozenset({"complete", "failed"})


@dataclass(frozen=True)
class SecretFile:
    """One file of an attempt, delivered as a Swarm secret mounted at ``target``."""

    name: str  # the Swarm secret's name: derived from the service's, so a retry finds it
    target: str  # absolute path in the container
    mode: int
    content: bytes


def secret_files(spec: RunSpec) -> list[SecretFile]:
    """The attempt's files (message, app secrets) as Swarm secrets, in a stable order."""
    return [
        SecretFile(
            name=f"{spec.name}.{index}",
            target=path,
            mode=spec.file_modes.get(path, 0o644),
            content=spec.files[path],
        )
        for index, path in enumerate(sorted(spec.files))
    ]


def placement_constraints(
    labels: Mapping[str, str], placement: Mapping[str, Sequence[str]]
) -> list[str]:
    """Swarm constraints for a job: those of ``*``, then of its queue, then of its app.

    ``placement`` keys are ``*``, ``queue:NAME`` and ``app:NAME``; values are Swarm
    constraint expressions such as ``node.labels.pool==batch``.
    """
    keys = ["*", f"queue:{labels.get(QUEUE_LABEL, '')}", f"app:{labels.get(APP_LABEL, '')}"]
    constraints: list[str] = []
    for key in keys:
        for constraint in placement.get(key, ()):
            if constraint not in constraints:
                constraints.append(constraint)
    return constraints


def resources(spec: RunSpec) -> dict[str, Any]:
    """Limits, and reservations of the same size so that Swarm places a job where it fits.

    PIDs go in ``Limits.Pids`` (API 1.41), which the SDK's ``Resources`` does not know.
    Swarm has no CPU weight: ``cpu_shares`` is not carried over.
    """
    limits: dict[str, int] = {}
    reservations: dict[str, int] = {}
    if spec.memory is not None:
        limits["MemoryBytes"] = reservations["MemoryBytes"] = spec.memory
    if spec.cpus is not None:
        limits["NanoCPUs"] = reservations["NanoCPUs"] = round(spec.cpus * 1e9)
    if spec.pids_limit is not None:
        limits["Pids"] = spec.pids_limit
    result: dict[str, Any] = {}
    if limits:
        result["Limits"] = limits
    if reservations:
        result["Reservations"] = reservations
    return result


def latest_task(tasks: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The service's newest task (a replicated job with restarts off has one)."""
    if not tasks:
        return None
    return max(tasks, key=lambda task: str(task.get("CreatedAt", "")))


def task_reason(task: Mapping[str, Any]) -> str:
    """Swarm's words for where a task stands, e.g. ``no suitable node (insufficient ...)``."""
    status = task.get("Status") or {}
    return str(status.get("Err") or status.get("Message") or status.get("State") or "")


def task_observation(
    task: Mapping[str, Any] | None, now: datetime, unplaceable_after: timedelta
) -> Observation:
    """What a service's task says of its attempt.

    No task yet: Swarm has not scheduled it. A task that waits for a node longer
    than ``unplaceable_after`` ends with an error that gives Swarm's reason.
    """
    if task is None:
        return Observation(state=ContainerState.CREATED)
    status = task.get("Status") or {}
    state = str(status.get("State", ""))
    finished_at = parse_docker_time(status.get("Timestamp"))
    if state == "running":
        return Observation(state=ContainerState.RUNNING)
    if state in _NOT_STARTED:
        created_at = parse_docker_time(task.get("CreatedAt"))
        if state == "pending" and created_at is not None and now - created_at >= unplaceable_after:
            waited = round(unplaceable_after.total_seconds())
            return Observation(
                state=ContainerState.EXITED,
                finished_at=created_at + unplaceable_after,
                error=f"Swarm could not place the job within {waited} s: {task_reason(task)}",
            )
        return Observation(state=ContainerState.CREATED)
    if state in _RAN:
        container = status.get("ContainerStatus") or {}
        exit_code = int(container.get("ExitCode", 0 if state == "complete" else -1))
        return Observation(
            state=ContainerState.EXITED, exit_code=exit_code, finished_at=finished_at
        )
    # rejected, orphaned, shutdown, remove: the node refused or lost it, or it was stopped.
    return Observation(
        state=ContainerState.EXITED,
        finished_at=finished_at,
        error=f"Swarm task {state}: {task_reason(task)}",
    )


def task_container(task: Mapping[str, Any]) -> str | None:
    """The id of the container the task ran in, once it has one."""
    container = (task.get("Status") or {}).get("ContainerStatus") or {}
    return container.get("ContainerID") or None
