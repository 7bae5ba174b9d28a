"""The Swarm executor: runs each attempt as a Docker Swarm service in ``replicated-job`` mode.

It talks to one manager of the swarm. The service is named like the Docker
executor's container (``pitmaster-<installation>-<attempt>``), so creating it
twice conflicts and the second start adopts the first's service. The attempt's
files (its message, the app's secrets) go in as Swarm secrets, one per file,
named from the service and removed with it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Literal, TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.types import (
    ContainerSpec,
    DriverConfig,
    Placement,
    RestartPolicy,
    SecretReference,
    ServiceMode,
    TaskTemplate,
)

from pitmaster.errors import ExecutorError
from pitmaster.executors.base import (
    LIVE_TAIL_LINES,
    ContainerState,
    ExitEvent,
    Logs,
    Observation,
    RunSpec,
    Started,
    StartFailed,
)
from pitmaster.executors.docker import (
    ATTEMPT_LABEL,
    DEFAULT_POOL_SIZE,
    INSTALLATION_LABEL,
    DockerExitStream,
    capped_text,
    run_times,
)
from pitmaster.executors.swarm_spec import (
    FILE_OWNER_GID,
    FILE_OWNER_UID,
    SERVICE_LABEL,
    latest_task,
    placement_constraints,
    resources,
    secret_files,
    task_container,
    task_observation,
    task_reason,
)
from pitmaster.models import STOP_GRACE_SECONDS

logger = logging.getLogger(__name__)

CLUSTER_IDENTITY_CONFIG = "pitmaster-engine-identity"
CLUSTER_IDENTITY_LABEL = "pitmaster.engine-id"
PROBE_LABEL = "pitmaster.engine-probe"
# Swarm's label on the containers of a service's tasks.
SWARM_SERVICE_ID_LABEL = "com.docker.swarm.service.id"
DEFAULT_UNPLACEABLE_SECONDS = 300.0
# How long reading an ended job's output waits for Swarm to record the end of its task.
_TASK_END_WAIT_SECONDS = 10.0
_TASK_END_POLL_SECONDS = 0.05
_ENDED_TASK_STATES = ("complete", "failed", "rejected", "shutdown", "orphaned", "remove")
_T = TypeVar("_T")


def _translate(action: str, call: Callable[[], _T]) -> _T:
    try:
        return call()
    except docker.errors.NotFound:
        raise
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise ExecutorError(f"Swarm manager: {action} failed: {exc}") from exc


def _status(exc: BaseException) -> int | None:
    return exc.status_code if isinstance(exc, docker.errors.APIError) else None


class SwarmExitStream:
    """The manager's own node's container exits, named by the service they ran for.

    Swarm itself sends no event when a task ends; the containers of tasks that
    ran on the manager's node do. Tasks on other nodes are found by the sweep.
    """

    def __init__(self, events: Any) -> None:
        self._events = events
        self._exits = DockerExitStream(self._by_service(events))

    @staticmethod
    def _by_service(events: Any) -> Iterator[dict[str, Any]]:
        for event in events:
            actor = event.get("Actor") or {}
            service = (actor.get("Attributes") or {}).get(SWARM_SERVICE_ID_LABEL)
            if service:
                yield event | {"Actor": actor | {"ID": service}, "id": service}

    def __iter__(self) -> Iterator[ExitEvent]:
        return iter(self._exits)

    def close(self) -> None:
        self._events.close()


class SwarmExecutor:
    """Runs attempts as services of the swarm whose manager answers at ``base_url``.

    ``placement``: Swarm constraints by ``*``, ``queue:NAME`` or ``app:NAME``.
    ``unplaceable_seconds``: how long a task may wait for a node before its attempt
    ends in error with Swarm's reason.
    """

    def __init__(
        self,
        base_url: str | None = None,
        max_pool_size: int = DEFAULT_POOL_SIZE,
        placement: Mapping[str, Sequence[str]] | None = None,
        unplaceable_seconds: float = DEFAULT_UNPLACEABLE_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # Any: the SDK's type stubs leave its Swarm calls untyped.
        self._api: Any
        if base_url:
            self._api = docker.APIClient(
                base_url=base_url, version="auto", timeout=60, max_pool_size=max_pool_size
            )
        else:
            self._api = docker.from_env(version="auto", timeout=60, max_pool_size=max_pool_size).api
        self._placement = dict(placement or {})
        self._unplaceable_after = timedelta(seconds=unplaceable_seconds)
        self._now = clock
        self._engine_id: str | None = None
        self._node_id: str | None = None
        self._waiting_reported: set[str] = set()

    def close(self) -> None:
        self._api.close()

    # -- identity ----------------------------------------------------------------

    def engine_id(self) -> str:
        """The identity pitmaster keeps on the swarm: a labelled Swarm config, made on first use.

        The swarm, not one of its nodes, runs the jobs, so every worker pointed at
        any of its managers records the same identity. Two workers making it at once
        conflict on the name, and both read the one that was made.
        """
        if self._engine_id is None:
            try:
                _translate(
                    "create the cluster identity",
                    lambda: self._api.create_config(
                        CLUSTER_IDENTITY_CONFIG,
                        b"pitmaster",
                        labels={CLUSTER_IDENTITY_LABEL: uuid.uuid4().hex},
                    ),
                )
            except ExecutorError as exc:
                if _status(exc.__cause__ or exc) != HTTPStatus.CONFLICT:
                    raise
            config = _translate(
                "read the cluster identity",
                lambda: self._api.inspect_config(CLUSTER_IDENTITY_CONFIG),
            )
            identity = ((config.get("Spec") or {}).get("Labels") or {}).get(CLUSTER_IDENTITY_LABEL)
            if not identity:
                raise ExecutorError(
                    f"Swarm config {CLUSTER_IDENTITY_CONFIG!r} has no {CLUSTER_IDENTITY_LABEL!r} "
                    f"label; remove it (docker config rm {CLUSTER_IDENTITY_CONFIG}) and start "
                    "the worker again"
                )
            self._engine_id = f"swarm-{identity}"
        return self._engine_id

    def describe(self) -> str:
        info = _translate("info", self._api.info)
        swarm = info.get("Swarm") or {}
        cluster = (swarm.get("Cluster") or {}).get("ID")
        return f"{self._api.base_url} (Swarm {cluster}, manager {info.get('Name')})"

    def ping(self) -> None:
        _translate("ping", self._api.ping)

    def make_probe(self, probe: str) -> None:
        _translate(
            "create a probe",
            lambda: self._api.create_config(
                _probe_config(probe), b"probe", labels={PROBE_LABEL: probe}
            ),
        )

    def has_probe(self, probe: str) -> bool:
        try:
            _translate("inspect a probe", lambda: self._api.inspect_config(_probe_config(probe)))
        except docker.errors.NotFound:
            return False
        return True

    def remove_probe(self, probe: str) -> None:
        try:
            _translate("remove a probe", lambda: self._api.remove_config(_probe_config(probe)))
        except docker.errors.NotFound:
            logger.debug("probe %s already removed", probe)

    def attempt_containers(self, installation: str) -> dict[str, int]:
        """Every service of this installation on the swarm: service id to attempt id."""
        found: dict[str, int] = {}
        for service in self._services(f"{INSTALLATION_LABEL}={installation}"):
            attempt = _labels(service).get(ATTEMPT_LABEL, "")
            if attempt.isdigit():
                found[str(service["ID"])] = int(attempt)
        return found

    # -- start -------------------------------------------------------------------

    def start(self, spec: RunSpec) -> Started:
        references = self._secrets_for(spec)
        try:
            service = _translate(
                "create a service",
                lambda: self._api.create_service(**self._service(spec, references)),
            )
        except docker.errors.NotFound as exc:
            # Something the service needs is missing (a network, say): final.
            raise StartFailed(f"service could not be created: {exc.explanation}") from exc
        except ExecutorError as exc:
            cause = exc.__cause__
            status = _status(cause) if cause else None
            if status == HTTPStatus.CONFLICT:
                # Name taken: an earlier claim of this attempt created it. Adopt it.
                logger.info("adopting existing service %s", spec.name)
                return Started(str(self._inspect_service(spec.name)["ID"]))
            if status is not None and HTTPStatus.BAD_REQUEST <= status < 500:  # noqa: PLR2004
                raise StartFailed(f"service could not be created: {exc}") from exc
            raise
        # Swarm starts it when a node takes it: the task's times come with its end.
        return Started(str(service["ID"]))

    def _service(self, spec: RunSpec, secrets: list[SecretReference]) -> dict[str, Any]:
        """The service for an attempt; nothing here comes from a message."""
        container = ContainerSpec(
            image=spec.image,
            command=list(spec.command),
            env=dict(spec.environment),
            labels=dict(spec.labels),
            secrets=secrets or None,
            stop_grace_period=int(STOP_GRACE_SECONDS * 1e9),
        )
        log_driver = None
        if spec.log_max_bytes is not None:
            log_driver = DriverConfig(
                "json-file", {"max-size": str(spec.log_max_bytes), "max-file": "1"}
            )
        constraints = placement_constraints(spec.labels, self._placement)
        template = TaskTemplate(
            container,
            restart_policy=RestartPolicy(condition="none"),
            placement=Placement(constraints=constraints) if constraints else None,
            log_driver=log_driver,
            networks=_networks(spec.network),
        )
        template["Resources"] = resources(spec)
        return {
            "task_template": template,
            "name": spec.name,
            "labels": dict(spec.labels),
            "mode": ServiceMode("replicated-job"),
        }

    def _secrets_for(self, spec: RunSpec) -> list[SecretReference]:
        """Make the attempt's Swarm secrets, or find those an earlier claim of it made."""
        references: list[SecretReference] = []
        for file in secret_files(spec):
            labels = dict(spec.labels) | {SERVICE_LABEL: spec.name}
            references.append(
                SecretReference(
                    self._secret_id(file.name, file.content, labels),
                    file.name,
                    filename=file.target,
                    uid=FILE_OWNER_UID,
                    gid=FILE_OWNER_GID,
                    mode=file.mode,
                )
            )
        return references

    def _secret_id(self, name: str, content: bytes, labels: Mapping[str, str]) -> str:
        """Create the secret; one of that name already there is an earlier claim's: use it."""
        try:
            made = _translate(
                "create a secret", lambda: self._api.create_secret(name, content, labels=labels)
            )
            return str(made["ID"])
        except ExecutorError as exc:
            if _status(exc.__cause__ or exc) != HTTPStatus.CONFLICT:
                raise
        return str(_translate("find a secret", lambda: self._api.inspect_secret(name))["ID"])

    # -- observe -----------------------------------------------------------------

    def observe(self, handles: Collection[str]) -> dict[str, Observation]:
        """Two listings for all handles: the services, and their tasks."""
        wanted = set(handles)
        if not wanted:
            return {}
        services = {str(s["ID"]) for s in self._services(ATTEMPT_LABEL)} & wanted
        tasks = _translate("list tasks", lambda: self._api.tasks(filters={"label": ATTEMPT_LABEL}))
        by_service: dict[str, list[dict[str, Any]]] = {}
        for task in tasks:
            by_service.setdefault(str(task.get("ServiceID")), []).append(task)
        return {
            handle: self._observation(handle, latest_task(by_service.get(handle, [])))
            for handle in services
        }

    def observe_one(self, handle: str) -> Observation | None:
        """One service's state; its container's, when Swarm has not yet seen that exit.

        This is asked just after a container's exit event, which comes before the
        task's end reaches the manager: the container's own state has the exit.
        """
        try:
            self._inspect_service(handle)
        except docker.errors.NotFound:
            return None
        task = latest_task(self._tasks_of(handle))
        observation = self._observation(handle, task)
        if task is None or observation.state is not ContainerState.RUNNING:
            return observation
        exited = self._container_exit(task)
        return exited if exited is not None else observation

    def _observation(self, handle: str, task: Mapping[str, Any] | None) -> Observation:
        observation = task_observation(task, self._now(), self._unplaceable_after)
        if task is not None and observation.state is ContainerState.CREATED:
            self._report_waiting(handle, task)
        if task is None or observation.state is not ContainerState.EXITED:
            return observation
        self._waiting_reported.discard(handle)
        if observation.exit_code is None:
            return observation
        return self._with_container_details(task, observation)

    def _report_waiting(self, handle: str, task: Mapping[str, Any]) -> None:
        if (task.get("Status") or {}).get("State") != "pending":
            return
        if handle not in self._waiting_reported:
            self._waiting_reported.add(handle)
            logger.info("service %s waits for a node: %s", handle[:12], task_reason(task))

    def _with_container_details(
        self, task: Mapping[str, Any], observation: Observation
    ) -> Observation:
        """Exact times and the OOM kill, from the task's container when it ran on this node.

        Swarm reports neither; a container on another node is out of reach.
        """
        exited = self._container_exit(task)
        if exited is None:
            return observation
        return replace(exited, finished_at=exited.finished_at or observation.finished_at)

    def _container_exit(self, task: Mapping[str, Any]) -> Observation | None:
        """The exit of the task's container, if it ran on the manager's node and has exited."""
        container = task_container(task)
        if container is None or task.get("NodeID") != self._local_node():
            return None
        try:
            state = _translate(
                "inspect a task's container", lambda: self._api.inspect_container(container)
            )["State"]
        except docker.errors.NotFound:
            return None
        if state.get("Running") or state.get("Status") in ("created", "restarting", "paused"):
            return None
        started_at, finished_at = run_times(state)
        return Observation(
            state=ContainerState.EXITED,
            exit_code=int(state.get("ExitCode", -1)),
            started_at=started_at,
            finished_at=finished_at,
            oom_killed=bool(state.get("OOMKilled")),
        )

    def _local_node(self) -> str | None:
        if self._node_id is None:
            info = _translate("info", self._api.info)
            self._node_id = (info.get("Swarm") or {}).get("NodeID") or None
        return self._node_id

    # -- output, stops, removal ------------------------------------------------------

    def logs(self, handle: str, limit: int) -> Logs:
        """An ended job's output, once Swarm too has seen its task end.

        The container's exit event comes before the task's end reaches the manager,
        and the manager's log stream of a task it still takes for running can
        come back empty.
        """
        deadline = time.monotonic() + _TASK_END_WAIT_SECONDS
        task = latest_task(self._tasks_of(handle))
        while task is not None and (task.get("Status") or {}).get("State") == "running":
            if time.monotonic() >= deadline:
                break
            time.sleep(_TASK_END_POLL_SECONDS)
            task = latest_task(self._tasks_of(handle))
        return self._read_logs(handle, task, limit, tail="all")

    def recent_logs(self, handle: str, limit: int) -> Logs:
        task = latest_task(self._tasks_of(handle))
        return self._read_logs(handle, task, limit, tail=LIVE_TAIL_LINES)

    def _read_logs(
        self, handle: str, task: Mapping[str, Any] | None, limit: int, tail: int | Literal["all"]
    ) -> Logs:
        """From the task's container when it ran on the manager's node, else through Swarm.

        The container's own log is complete once it has exited; Swarm's log stream
        of a task that just ended can still miss some or all of it.
        """
        container = task_container(task) if task is not None else None
        local = (
            container is not None and task is not None and task.get("NodeID") == self._local_node()
        )

        def read(stdout: bool) -> str:
            if local:
                chunks = self._api.logs(
                    container,
                    stdout=stdout,
                    stderr=not stdout,
                    stream=True,
                    follow=False,
                    tail=tail,
                )
            else:
                chunks = self._api.service_logs(
                    handle, stdout=stdout, stderr=not stdout, follow=False, tail=tail, is_tty=False
                )
            return capped_text(chunks, limit, "stdout" if stdout else "stderr")

        try:
            return Logs(
                stdout=_translate("read stdout", lambda: read(True)),
                stderr=_translate("read stderr", lambda: read(False)),
            )
        except docker.errors.NotFound:
            return Logs(stdout="", stderr="")

    def kill(self, handle: str, signal: str) -> None:
        """Signal the task's container through its node's engine, when that is this manager.

        Swarm cannot signal a task. A task on another node is stopped by removing its
        service: Swarm sends SIGTERM, then SIGKILL after the stop grace period. A task
        not started yet is left to start on SIGTERM (so that a timeout reached while
        it waited still ends as a timeout, killed), and its service removed on SIGKILL.
        """
        task = latest_task(self._tasks_of(handle))
        state = (task.get("Status") or {}).get("State") if task is not None else None
        container = task_container(task) if task is not None else None
        if task is None or state != "running" or container is None:
            if signal == "SIGKILL" and state not in _ENDED_TASK_STATES:
                self.remove(handle)  # it never ran: nothing to kill, so never start it
            return
        if task.get("NodeID") != self._local_node():
            logger.info("service %s runs on another node: removing it to stop it", handle[:12])
            self.remove(handle)
            return
        try:
            _translate(f"send {signal}", lambda: self._api.kill(container, signal=signal))
        except docker.errors.NotFound:
            logger.debug("container %s already gone", container[:12])
        except ExecutorError as exc:
            if _status(exc.__cause__ or exc) != HTTPStatus.CONFLICT:
                raise

    def remove(self, handle: str) -> None:
        """Remove the service, its tasks' containers on this node, then the secrets made for it.

        Swarm keeps the container of a job's ended task after its service is removed.
        """
        name, service_id = handle, handle
        try:
            service = self._inspect_service(handle)
            name, service_id = str(service["Spec"]["Name"]), str(service["ID"])
            _translate("remove a service", lambda: self._api.remove_service(handle))
        except docker.errors.NotFound:
            logger.debug("service %s already removed", handle)
        self._waiting_reported.discard(handle)
        containers = _translate(
            "list a service's containers",
            lambda: self._api.containers(
                all=True, filters={"label": f"{SWARM_SERVICE_ID_LABEL}={service_id}"}
            ),
        )
        for container in containers:
            self._remove_container(str(container["Id"]))
        for secret in _translate(
            "list secrets",
            lambda: self._api.secrets(filters={"label": f"{SERVICE_LABEL}={name}"}),
        ):
            self._remove_secret(str(secret["ID"]))

    def _remove_container(self, container: str) -> None:
        try:
            _translate(
                "remove a task's container",
                lambda: self._api.remove_container(container, force=True),
            )
        except docker.errors.NotFound:
            logger.debug("container %s already removed", container[:12])

    def _remove_secret(self, secret_id: str) -> None:
        try:
            _translate("remove a secret", lambda: self._api.remove_secret(secret_id))
        except docker.errors.NotFound:
            logger.debug("secret %s already removed", secret_id)

    def exits(self) -> SwarmExitStream:
        events = _translate(
            "follow events",
            lambda: self._api.events(
                decode=True,
                filters={"type": "container", "event": ["oom", "die"], "label": ATTEMPT_LABEL},
            ),
        )
        return SwarmExitStream(events)

    # -- listings ----------------------------------------------------------------------

    def _services(self, label: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = _translate(
            "list services", lambda: self._api.services(filters={"label": label})
        )
        return result

    def _tasks_of(self, handle: str) -> list[dict[str, Any]]:
        try:
            result: list[dict[str, Any]] = _translate(
                "list a service's tasks", lambda: self._api.tasks(filters={"service": handle})
            )
        except docker.errors.NotFound:
            return []
        return result

    def _inspect_service(self, handle: str) -> dict[str, Any]:
        result: dict[str, Any] = _translate(
            "inspect a service", lambda: self._api.inspect_service(handle)
        )
        return result


def _labels(service: Mapping[str, Any]) -> dict[str, str]:
    return dict((service.get("Spec") or {}).get("Labels") or {})


def _networks(network: str | None) -> list[str] | None:
    """Swarm (API 1.41) has no ``none`` network for services: a job asking for it gets no
    attachment, and so the node's default network (see docs/swarm.md)."""
    if network is None or network == "none":
        return None
    return [network]


def _probe_config(probe: str) -> str:
    return f"pitmaster-probe-{probe}"
