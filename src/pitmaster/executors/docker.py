"""The Docker executor: runs each attempt as a detached container through the Engine API."""

from __future__ import annotations

import io
import logging
import tarfile
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Literal, TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.types import LogConfig

from pitmaster.errors import ExecutorError, ImageUnavailable
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

logger = logging.getLogger(__name__)

ATTEMPT_LABEL = "pitmaster.attempt"
INSTALLATION_LABEL = "pitmaster.installation"
ENGINE_IDENTITY_VOLUME = "pitmaster-engine-identity"
ENGINE_IDENTITY_LABEL = "pitmaster.engine-id"
PROBE_LABEL = "pitmaster.engine-probe"
# Connections kept to the engine; a worker passes one per thread that calls it.
DEFAULT_POOL_SIZE = 10
# `docker rm -f` marks the container for removal before it kills it, so a
# container removed from outside is seen as lost, not as killed (exit 137).
_BEING_REMOVED = ("removing", "dead")
_SIGKILLED = 137
# How long after a SIGKILLed container's exit its `oom` event may still come: the
# engine can record the exit before it hears of the OOM kill, and then inspect too
# says OOMKilled false.
_LATE_OOM_EVENT = timedelta(seconds=2)
_ZERO_TIME_PREFIX = "0001-01-01"
_T = TypeVar("_T")


def parse_docker_time(value: str | None) -> datetime | None:
    """Docker's RFC 3339 times (nanoseconds, ``Z``); its zero time means 'never'."""
    if not value or value.startswith(_ZERO_TIME_PREFIX):
        return None
    return datetime.fromisoformat(value)


def run_times(state: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """An ended container's start and finish, from its inspected ``State``.

    Docker sets ``StartedAt`` after the start call returns, so a command that
    exits at once can show a start a few microseconds after its finish; such a
    start is taken to be the finish, so that no execution ends before it began.
    """
    started_at = parse_docker_time(state.get("StartedAt"))
    finished_at = parse_docker_time(state.get("FinishedAt"))
    if started_at and finished_at and started_at > finished_at:
        started_at = finished_at
    return started_at, finished_at


def _translate(action: str, call: Callable[[], _T]) -> _T:
    try:
        return call()
    except docker.errors.NotFound:
        raise
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise ExecutorError(f"Docker engine: {action} failed: {exc}") from exc


DEFAULT_FILE_MODE = 0o644


def _tar_of(files: Mapping[str, bytes], modes: Mapping[str, int]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        directories = sorted({d for path in files for d in _parents(path)})
        for directory in directories:
            entry = tarfile.TarInfo(directory)
            entry.type = tarfile.DIRTYPE
            entry.mode = 0o755
            archive.addfile(entry)
        for path, content in files.items():
            entry = tarfile.TarInfo(path.lstrip("/"))
            entry.size = len(content)
            entry.mode = modes.get(path, DEFAULT_FILE_MODE)
            archive.addfile(entry, io.BytesIO(content))
    return buffer.getvalue()


def _parents(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def capped_text(chunks: Iterable[bytes], limit: int, stream_name: str) -> str:
    """Keep the last ``limit`` bytes of a stream, with a visible mark if any were dropped."""
    kept: deque[bytes] = deque()
    kept_size = 0
    total = 0
    for chunk in chunks:
        kept.append(chunk)
        kept_size += len(chunk)
        total += len(chunk)
        while kept_size - len(kept[0]) >= limit:
            kept_size -= len(kept.popleft())
    data = b"".join(kept)[-limit:]
    # PostgreSQL text cannot hold NUL: a job printing one must not make its outcome unrecordable.
    text = data.decode("utf-8", errors="replace").replace("\x00", "\u2400")
    if total == len(data):
        return text
    dropped = total - len(data)
    return f"[pitmaster: {stream_name} truncated: first {dropped} of {total} bytes dropped]\n{text}"


class DockerExitStream:
    """Docker's `die` events as ExitEvents; an `oom` event marks the `die` that follows it."""

    def __init__(self, events: Any) -> None:
        self._events = events

    def __iter__(self) -> Iterator[ExitEvent]:
        oom_killed: set[str] = set()
        for event in self._events:
            actor = event.get("Actor") or {}
            handle = actor.get("ID") or event.get("id")
            if not handle:
                continue
            if event.get("Action") == "oom":
                oom_killed.add(handle)
                continue
            was_oom = handle in oom_killed
            oom_killed.discard(handle)
            attributes = actor.get("Attributes") or {}
            yield exit_event(str(handle), attributes, event.get("timeNano"), was_oom)

    def close(self) -> None:
        self._events.close()


def exit_event(
    handle: str, attributes: Mapping[str, str], time_nano: object, oom_killed: bool = False
) -> ExitEvent:
    """An ExitEvent from a `die` event's attributes; what it lacks stays None."""
    try:
        exit_code: int | None = int(attributes["exitCode"])
    except (KeyError, ValueError):
        exit_code = None
    at = None
    if isinstance(time_nano, int):
        at = datetime.fromtimestamp(time_nano / 1e9, UTC)
    return ExitEvent(handle=handle, exit_code=exit_code, at=at, oom_killed=oom_killed)


class DockerExecutor:
    """Runs attempts on one Docker engine (``base_url``, or the environment's ``DOCKER_HOST``).

    ``max_pool_size``: connections kept open to the engine; give it one for
    each thread that calls the engine at once, or they are dropped and reopened.
    """

    def __init__(
        self,
        base_url: str | None = None,
        pull_missing_images: bool = True,
        max_pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        if base_url:
            self._api = docker.APIClient(
                base_url=base_url, version="auto", timeout=60, max_pool_size=max_pool_size
            )
        else:
            self._api = docker.from_env(version="auto", timeout=60, max_pool_size=max_pool_size).api
        self._pull_missing_images = pull_missing_images
        self._engine_id: str | None = None

    def close(self) -> None:
        self._api.close()

    def engine_id(self) -> str:
        """The identity pitmaster keeps on this engine, made on first use.

        Docker's own ID is not enough: hosts cloned from one disk image share
        it. The identity lives in a labelled volume, so it stays with the
        engine's data; ``volume create`` of an existing name returns the
        existing volume, so two workers starting at once agree on one identity.
        """
        if self._engine_id is None:
            fresh = uuid.uuid4().hex
            _translate(
                "create the engine identity volume",
                lambda: self._api.create_volume(
                    name=ENGINE_IDENTITY_VOLUME, labels={ENGINE_IDENTITY_LABEL: fresh}
                ),
            )
            volume = _translate(
                "read the engine identity volume",
                lambda: self._api.inspect_volume(ENGINE_IDENTITY_VOLUME),
            )
            identity = (volume.get("Labels") or {}).get(ENGINE_IDENTITY_LABEL)
            if not identity:
                raise ExecutorError(
                    f"volume {ENGINE_IDENTITY_VOLUME!r} on the Docker engine has no "
                    f"{ENGINE_IDENTITY_LABEL!r} label; remove it (docker volume rm "
                    f"{ENGINE_IDENTITY_VOLUME}) and start the worker again"
                )
            self._engine_id = f"engine-{identity}"
        return self._engine_id

    def describe(self) -> str:
        """What people know the engine by: its address, Docker's name for the host and its ID."""
        info = _translate("info", self._api.info)
        return f"{self._api.base_url} (host {info.get('Name')}, Docker ID {info.get('ID')})"

    def ping(self) -> None:
        """Raise ExecutorError unless the engine answers."""
        _translate("ping", self._api.ping)

    # -- probes: telling apart engines that claim one identity ---------------

    def make_probe(self, probe: str) -> None:
        _translate(
            "create a probe volume",
            lambda: self._api.create_volume(name=_probe_volume(probe), labels={PROBE_LABEL: probe}),
        )

    def has_probe(self, probe: str) -> bool:
        try:
            _translate(
                "inspect a probe volume", lambda: self._api.inspect_volume(_probe_volume(probe))
            )
        except docker.errors.NotFound:
            return False
        return True

    def remove_probe(self, probe: str) -> None:
        try:
            _translate(
                "remove a probe volume", lambda: self._api.remove_volume(_probe_volume(probe))
            )
        except docker.errors.NotFound:
            logger.debug("probe %s already removed", probe)

    def attempt_containers(self, installation: str) -> dict[str, int]:
        """Every container of this installation on the engine: handle to attempt id."""
        listing = _translate(
            "list containers",
            lambda: self._api.containers(
                all=True, filters={"label": f"{INSTALLATION_LABEL}={installation}"}
            ),
        )
        found: dict[str, int] = {}
        for summary in listing:
            attempt = (summary.get("Labels") or {}).get(ATTEMPT_LABEL, "")
            if attempt.isdigit():
                found[str(summary["Id"])] = int(attempt)
        return found

    # -- start ---------------------------------------------------------------

    def start(self, spec: RunSpec) -> Started:
        container_id, fresh = self._create(spec)
        if not fresh:
            state = self._inspect(container_id)["State"]
            if state.get("Status") != "created":  # the earlier claim started it: adopt
                return Started(container_id, parse_docker_time(state.get("StartedAt")))
        if spec.files:
            _translate(
                "copying files in",
                lambda: self._api.put_archive(
                    container_id, "/", _tar_of(spec.files, spec.file_modes)
                ),
            )
        try:
            _translate("start", lambda: self._api.start(container_id))
        except docker.errors.NotFound as exc:
            if self._exists(container_id):
                # Something the container needs is missing (a network that does
                # not exist, say): final, and the engine's message says what.
                raise StartFailed(f"container could not start: {_explain(exc)}") from exc
            raise ExecutorError(f"container {spec.name} vanished before it started") from exc
        except ExecutorError as exc:
            cause = exc.__cause__
            if isinstance(cause, docker.errors.APIError) and _is_client_error(cause):
                raise StartFailed(f"container could not start: {_explain(cause)}") from exc
            raise
        # No inspect for Docker's StartedAt here: the exit's inspect brings it.
        return Started(container_id)

    def _create(self, spec: RunSpec) -> tuple[str, bool]:
        """The container's id, and whether this call created it (False: adopted)."""
        try:
            return self._create_container(spec), True
        except docker.errors.ImageNotFound:
            self._pull(spec.image)
            return self._create_container(spec), True
        except docker.errors.APIError as exc:
            if exc.status_code != HTTPStatus.CONFLICT:
                raise
            # Name taken: an earlier claim of this attempt created it. Adopt it.
            logger.info("adopting existing container %s", spec.name)
            return str(self._inspect(spec.name)["Id"]), False

    def _create_container(self, spec: RunSpec) -> str:
        def create() -> dict[str, Any]:
            result: dict[str, Any] = self._api.create_container(
                image=spec.image,
                command=list(spec.command),
                name=spec.name,
                environment=dict(spec.environment),
                labels=dict(spec.labels),
                detach=True,
                host_config=self._host_config(spec),
            )
            return result

        try:
            return str(create()["Id"])
        except docker.errors.ImageNotFound:
            raise
        except docker.errors.APIError as exc:
            if exc.status_code == HTTPStatus.CONFLICT:
                raise
            if _is_client_error(exc):
                raise StartFailed(f"container could not be created: {_explain(exc)}") from exc
            raise ExecutorError(f"Docker engine: create failed: {exc}") from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise ExecutorError(f"Docker engine: create failed: {exc}") from exc

    def _host_config(self, spec: RunSpec) -> dict[str, Any]:
        """Hardened by default: no new privileges, no privileged mode, no mounts, capped logs.

        Nothing here comes from a message: only the job definition and the settings.
        """
        log_config = None
        if spec.log_max_bytes is not None:
            log_config = LogConfig(
                type=LogConfig.types.JSON,
                config={"max-size": str(spec.log_max_bytes), "max-file": "1"},
            )
        config: dict[str, Any] = self._api.create_host_config(
            mem_limit=spec.memory,
            memswap_limit=spec.memory,
            pids_limit=spec.pids_limit,
            cpu_shares=spec.cpu_shares,
            nano_cpus=round(spec.cpus * 1e9) if spec.cpus is not None else None,
            network_mode=spec.network,
            security_opt=["no-new-privileges:true"],
            privileged=False,
            log_config=log_config,
        )
        return config

    def _pull(self, image: str) -> None:
        if not self._pull_missing_images:
            raise ImageUnavailable(f"image {image!r} is not present on the Docker engine")
        logger.info("pulling missing image %s", image)
        try:
            self._api.pull(image)
        except docker.errors.APIError as exc:
            raise ImageUnavailable(
                f"image {image!r} is not present and could not be pulled: {_explain(exc)}"
            ) from exc

    def _exists(self, container: str) -> bool:
        try:
            self._inspect(container)
        except docker.errors.NotFound:
            return False
        return True

    def _inspect(self, container: str) -> dict[str, Any]:
        result: dict[str, Any] = _translate(
            "inspect", lambda: self._api.inspect_container(container)
        )
        return result

    # -- observe ---------------------------------------------------------------

    def observe(self, handles: Collection[str]) -> dict[str, Observation]:
        wanted = set(handles)
        listing = _translate(
            "list containers",
            lambda: self._api.containers(all=True, filters={"label": ATTEMPT_LABEL}),
        )
        observed: dict[str, Observation] = {}
        for summary in listing:
            handle = summary["Id"]
            if handle not in wanted:
                continue
            status = summary.get("State")
            if status in _BEING_REMOVED:
                continue  # removed from outside (docker rm -f): as good as gone
            if status in ("running", "restarting", "paused"):
                observed[handle] = Observation(state=ContainerState.RUNNING)
            elif status == "created":
                observed[handle] = Observation(state=ContainerState.CREATED)
            else:
                # Only an ended container costs an inspect: it has the exit details.
                exited = self.observe_one(handle)
                if exited is not None:
                    observed[handle] = exited
        return observed

    def observe_one(self, handle: str) -> Observation | None:
        try:
            state = self._inspect(handle)["State"]
        except docker.errors.NotFound:
            return None
        if state.get("Status") in _BEING_REMOVED:
            return None
        if state.get("Running"):
            return Observation(state=ContainerState.RUNNING)
        if state.get("Status") == "created":
            return Observation(state=ContainerState.CREATED)
        exit_code = int(state.get("ExitCode", -1))
        started_at, finished_at = run_times(state)
        oom_killed = bool(state.get("OOMKilled"))
        if exit_code == _SIGKILLED and not oom_killed and started_at and finished_at:
            oom_killed = self._oom_event_seen(handle, started_at, finished_at)
        return Observation(
            state=ContainerState.EXITED,
            exit_code=exit_code,
            started_at=started_at,
            finished_at=finished_at,
            oom_killed=oom_killed,
            error=state.get("Error") or None,
        )

    def _oom_event_seen(self, handle: str, started_at: datetime, finished_at: datetime) -> bool:
        """Whether the engine reported an OOM kill of the container, waiting briefly for it.

        Asking with ``until`` in the future makes the engine hold the answer until
        then, so a fresh exit waits up to ``_LATE_OOM_EVENT`` and an old one not at all.
        """
        events = _translate(
            "read past events",
            lambda: self._api.events(
                since=started_at,
                until=finished_at + _LATE_OOM_EVENT,
                filters={"type": "container", "event": "oom", "container": handle},
                decode=True,
            ),
        )
        try:
            return any(True for _ in events)
        finally:
            events.close()

    def logs(self, handle: str, limit: int) -> Logs:
        return self._read_logs(handle, limit, tail="all")

    def recent_logs(self, handle: str, limit: int) -> Logs:
        # Docker reads a tail from the end of its log file: the cost does not grow
        # with what the job printed before.
        return self._read_logs(handle, limit, tail=LIVE_TAIL_LINES)

    def _read_logs(self, handle: str, limit: int, tail: int | Literal["all"]) -> Logs:
        def read(stdout: bool) -> str:
            # follow=False explicitly: docker-py follows a streamed log by default,
            # which would block until a running container exits.
            chunks = self._api.logs(
                handle, stdout=stdout, stderr=not stdout, stream=True, follow=False, tail=tail
            )
            return capped_text(chunks, limit, "stdout" if stdout else "stderr")

        try:
            return Logs(
                stdout=_translate("read stdout", lambda: read(True)),
                stderr=_translate("read stderr", lambda: read(False)),
            )
        except docker.errors.NotFound:
            return Logs(stdout="", stderr="")
        except ExecutorError as exc:
            if _is_conflict(exc):  # being removed, most likely by the worker that recorded it
                return Logs(stdout="", stderr="")
            raise

    def kill(self, handle: str, signal: str) -> None:
        try:
            _translate(f"send {signal}", lambda: self._api.kill(handle, signal=signal))
        except docker.errors.NotFound:
            logger.debug("container %s already gone", handle)
        except ExecutorError as exc:
            if not _is_conflict(exc):  # 409: not running any more, which is what we wanted
                raise

    def remove(self, handle: str) -> None:
        try:
            _translate("remove", lambda: self._api.remove_container(handle, force=True))
        except docker.errors.NotFound:
            logger.debug("container %s already removed", handle)

    def exits(self) -> DockerExitStream:
        events = _translate(
            "follow events",
            lambda: self._api.events(
                decode=True,
                filters={"type": "container", "event": ["oom", "die"], "label": ATTEMPT_LABEL},
            ),
        )
        return DockerExitStream(events)


def _probe_volume(probe: str) -> str:
    return f"pitmaster-probe-{probe}"


def _is_conflict(exc: ExecutorError) -> bool:
    """Whether the engine answered 409 (the container is not in a state for this call)."""
    cause = exc.__cause__
    return isinstance(cause, docker.errors.APIError) and cause.status_code == HTTPStatus.CONFLICT


def _is_client_error(exc: docker.errors.APIError) -> bool:
    return (
        exc.status_code is not None
        and HTTPStatus.BAD_REQUEST <= exc.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    ) or _is_bad_command(exc)


def _is_bad_command(exc: docker.errors.APIError) -> bool:
    # The engine answers 500 when the command cannot be executed in the image.
    text = str(exc.explanation or "")
    return "exec:" in text or "executable file not found" in text or "no such file" in text


def _explain(exc: docker.errors.APIError) -> str:
    explanation = exc.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", errors="replace")
    return str(explanation or exc)
