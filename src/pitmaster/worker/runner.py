"""The Runner: claims the oldest runnable execution and starts its container detached."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from pitmaster.app_secrets import (
    NO_KEY_HINT,
    SECRET_FILE_MODE,
    SECRETS_DIRECTORY,
    SecretUnreadable,
    secret_box,
)
from pitmaster.errors import ExecutorError, ImageUnavailable, InvalidInput
from pitmaster.executors.base import Executor, RunSpec, StartFailed
from pitmaster.images import check_image_allowed
from pitmaster.metrics import Metrics
from pitmaster.models import (
    MESSAGE_ENV_LIMIT,
    ORDER_BY_PRIORITY,
    Claim,
    ClaimOrder,
    MarkResult,
    MessageDelivery,
    Outcome,
    Status,
)
from pitmaster.store.store import Store

logger = logging.getLogger(__name__)

MESSAGE_FILE = "/run/pitmaster/message.json"
_T = TypeVar("_T")


def message_delivery(claim: Claim) -> tuple[dict[str, str], dict[str, bytes]]:
    """How the message reaches the job: environment variables, and files to copy in.

    ``env`` (barbeque's way): BARBEQUE_MESSAGE, which holds at most MESSAGE_ENV_LIMIT
    bytes (Linux's limit on one environment string); a message that does not fit is an
    InvalidInput (enqueue refuses it first). ``file``: copied into the container, named
    by PITMASTER_MESSAGE_FILE (an extra engine call). ``auto``: env when it fits.
    """
    message = json.dumps(claim.execution.message, ensure_ascii=False)
    encoded = message.encode()
    as_file = {"PITMASTER_MESSAGE_FILE": MESSAGE_FILE}, {MESSAGE_FILE: encoded}
    if claim.message_delivery is MessageDelivery.FILE:
        return as_file
    if len(encoded) <= MESSAGE_ENV_LIMIT:
        return {"BARBEQUE_MESSAGE": message}, {}
    if claim.message_delivery is MessageDelivery.ENV:
        raise InvalidInput(
            f"the message is {len(encoded)} bytes, over the {MESSAGE_ENV_LIMIT} bytes "
            "BARBEQUE_MESSAGE holds, and this job takes it there only (message_delivery: env)"
        )
    return as_file


def _epoch_ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def job_environment(claim: Claim) -> dict[str, str]:
    """The job's environment, as barbeque's jobs see it: the message is data, never argv.

    Every attempt gets the execution's message_id (ActiveJob's job_id, the id a job
    retries itself by), the number of retries so far, and when this attempt was sent
    (the enqueue, or its retry). The attempt's own id is PITMASTER_ATTEMPT_ID. An
    execution a schedule made also gets its tick's time, PITMASTER_SCHEDULED_AT.
    """
    execution = claim.execution
    sent_at = claim.attempt_queued_at or execution.created_at
    scheduled = (
        {"PITMASTER_SCHEDULED_AT": execution.scheduled_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if execution.scheduled_at is not None
        else {}
    )
    return scheduled | {
        "BARBEQUE_JOB": execution.job,
        "BARBEQUE_MESSAGE_ID": execution.message_id,
        "BARBEQUE_QUEUE_NAME": execution.queue,
        "BARBEQUE_RETRY_COUNT": str(claim.attempt_number),
        "BARBEQUE_SENT_TIMESTAMP": _epoch_ms(sent_at),
        "PITMASTER_APPLICATION": execution.application,
        "PITMASTER_ATTEMPT_ID": claim.attempt_message_id,
    }


def container_labels(claim: Claim) -> Mapping[str, str]:
    execution = claim.execution
    return {
        "pitmaster.installation": claim.installation,
        "pitmaster.attempt": str(claim.attempt_id),
        "pitmaster.execution": execution.message_id,
        "pitmaster.app": execution.application,
        "pitmaster.job": execution.job,
        "pitmaster.queue": execution.queue,
    }


@dataclass(frozen=True)
class ContainerDefaults:
    """Limits every job container gets unless its job definition says otherwise."""

    memory: int | None = None
    pids_limit: int | None = None
    cpu_shares: int | None = None
    cpus: float | None = None
    log_max_bytes: int | None = None


def secret_files(secrets: Mapping[str, str]) -> tuple[dict[str, bytes], dict[str, int]]:
    """Each secret as a file ``/run/secrets/NAME``, and the files' modes.

    Files, not environment variables: a container's environment is shown by
    ``docker inspect`` and inherited by every process the job starts.
    """
    files = {f"{SECRETS_DIRECTORY}/{name}": value.encode() for name, value in secrets.items()}
    return files, dict.fromkeys(files, SECRET_FILE_MODE)


def _either(given: _T | None, default: _T | None) -> _T | None:
    return given if given is not None else default


def run_spec(
    claim: Claim,
    docker_image: str,
    command: tuple[str, ...],
    defaults: ContainerDefaults = ContainerDefaults(),
    secrets: Mapping[str, str] | None = None,
) -> RunSpec:
    """The container for a claim: its definition's resources, else the defaults."""
    message_environment, files = message_delivery(claim)
    secrets_as_files, modes = secret_files(secrets or {})
    return RunSpec(
        name=claim.container_name,
        image=docker_image,
        command=command,
        environment=job_environment(claim) | message_environment,
        labels=container_labels(claim),
        files=files | secrets_as_files,
        file_modes=modes,
        memory=_either(claim.memory, defaults.memory),
        pids_limit=_either(claim.pids_limit, defaults.pids_limit),
        cpu_shares=defaults.cpu_shares,
        cpus=_either(claim.cpus, defaults.cpus),
        log_max_bytes=defaults.log_max_bytes,
        network=claim.network,
    )


class Runner:
    def __init__(  # noqa: PLR0913, PLR0917 -- the worker wires its collaborators and settings once
        self,
        store: Store,
        executor: Executor,
        worker_id: str,
        lease_seconds: float,
        queues: tuple[str, ...] | None = None,
        global_limit: int | None = None,
        metrics: Metrics | None = None,
        container_defaults: ContainerDefaults | None = None,
        on_running: Callable[[str], None] | None = None,
        allowed_images: tuple[str, ...] | None = None,
        secrets_keys: str | None = None,
        claim_order: ClaimOrder = ORDER_BY_PRIORITY,
    ) -> None:
        self._store = store
        self._executor = executor
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds
        self._queues = queues
        self._global_limit = global_limit
        self._metrics = metrics or Metrics()
        self._container_defaults = container_defaults or ContainerDefaults()
        self._on_running = on_running
        self._allowed_images = allowed_images
        self._secret_box = secret_box(secrets_keys)
        self._claim_order = claim_order

    def run_once(self) -> bool:
        """Claim and start one execution; False when there was nothing to claim.

        Raises ExecutorError when the engine cannot be reached: the claim is
        then left to its lease, and the same attempt is taken up again later.
        """
        engine_id = self._executor.engine_id()
        claim = self._store.claim(
            self._worker_id,
            self._lease_seconds,
            queues=self._queues,
            global_limit=self._global_limit,
            engine=engine_id,
            order=self._claim_order,
        )
        if claim is None:
            return False
        self._metrics.claims.inc()
        message_id = claim.execution.message_id
        if claim.docker_image is None or claim.command is None:
            execution = claim.execution
            self._end(
                claim,
                Outcome(
                    Status.ERROR,
                    f"job definition {execution.application}/{execution.job} no longer exists",
                ),
            )
            return True
        try:
            check_image_allowed(claim.docker_image, self._allowed_images)
            secrets = self._open_secrets(claim)
            spec = run_spec(
                claim, claim.docker_image, claim.command, self._container_defaults, secrets
            )
        except (InvalidInput, SecretUnreadable) as exc:
            self._end(claim, Outcome(Status.ERROR, str(exc)))
            # A claim taken over from a dead worker may already have its container.
            self._executor.remove(claim.container_name)
            return True
        try:
            started = self._executor.start(spec)
        except (ImageUnavailable, StartFailed) as exc:
            self._end(claim, Outcome(Status.ERROR, str(exc)))
            self._executor.remove(spec.name)
            return True
        except ExecutorError:
            self._store.release_claim(claim.execution.id)
            raise
        started_at = started.started_at or datetime.now(UTC)
        result = self._store.mark_running(claim.attempt_id, started.handle, engine_id, started_at)
        if result is MarkResult.RUNNING:
            waited = started_at - claim.execution.run_after
            self._metrics.queue_wait.observe(max(0.0, waited.total_seconds()))
            logger.info(
                "execution %s running in %s (container %s)",
                message_id,
                spec.name,
                started.handle[:12],
            )
            if self._on_running is not None:
                self._on_running(started.handle)
        elif result is MarkResult.ENDED:
            logger.info("execution %s was cancelled while starting; removing it", message_id)
            self._executor.remove(started.handle)
        else:
            logger.info("execution %s was already started elsewhere", message_id)
        return True

    def _open_secrets(self, claim: Claim) -> dict[str, str]:
        """The app's secrets in clear, for this one container; never logged."""
        if not claim.sealed_secrets:
            return {}
        application = claim.execution.application
        if self._secret_box is None:
            raise SecretUnreadable(
                f"app {application!r} has secrets but this worker cannot open them: {NO_KEY_HINT}"
            )
        return self._secret_box.open_all(application, claim.sealed_secrets)

    def _end(self, claim: Claim, outcome: Outcome) -> None:
        if self._store.record_outcome(claim.attempt_id, outcome):
            logger.warning(
                "execution %s ended %s: %s",
                claim.execution.message_id,
                outcome.status,
                outcome.reason,
            )
