"""The Poller: finds the running attempts that ended and records each outcome once."""

from __future__ import annotations

import logging
import random
from dataclasses import replace

from pitmaster.executors.base import ContainerState, Executor, Observation
from pitmaster.models import Outcome, RunningAttempt, Status
from pitmaster.store.store import Store

logger = logging.getLogger(__name__)


def outcome_of(observation: Observation | None) -> Outcome | None:
    """How an attempt ended, from what the engine shows; None while it still runs."""
    if observation is None:
        return Outcome(
            status=Status.ERROR,
            reason="lost",
            exit_code=None,
            finished_at=None,
            stdout="",
            stderr="",
        )
    if observation.state is not ContainerState.EXITED:
        return None
    exit_code = observation.exit_code
    if observation.oom_killed:
        status, reason = Status.FAILED, "oom"
    elif exit_code == 0:
        status, reason = Status.SUCCESS, "exited 0"
    else:
        status, reason = Status.FAILED, f"exited {exit_code}"
    return Outcome(
        status=status,
        reason=reason,
        exit_code=exit_code,
        finished_at=observation.finished_at,
        stdout="",
        stderr="",
    )


class Poller:
    def __init__(self, store: Store, executor: Executor, log_limit_bytes: int) -> None:
        self._store = store
        self._executor = executor
        self._log_limit_bytes = log_limit_bytes

    def sweep(self) -> int:
        """One pass over this engine's running attempts; returns how many it recorded."""
        running = self._store.running_attempts(self._executor.engine_id())
        if not running:
            return 0
        random.shuffle(running)
        observed = self._executor.observe([attempt.container_id for attempt in running])
        recorded = 0
        for attempt in running:
            outcome = outcome_of(observed.get(attempt.container_id))
            if outcome is not None and self._record(attempt, outcome):
                recorded += 1
        return recorded

    def _record(self, attempt: RunningAttempt, outcome: Outcome) -> bool:
        if outcome.reason != "lost":
            logs = self._executor.logs(attempt.container_id, self._log_limit_bytes)
            outcome = replace(outcome, stdout=logs.stdout, stderr=logs.stderr)
        if not self._store.record_outcome(attempt.attempt_id, outcome):
            return False
        logger.info(
            "execution %s ended %s (%s)", attempt.message_id, outcome.status, outcome.reason
        )
        self._executor.remove(attempt.container_id)
        return True
