"""The Poller: finds the running attempts that ended and records each outcome once.

It also carries out stops (a timeout passed, or a cancel was asked for):
SIGTERM first, SIGKILL once the job definition's grace has passed. The stop
is stored before it is signalled, so it holds across worker restarts.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pitmaster.executors.base import ContainerState, Executor, Observation
from pitmaster.metrics import Metrics
from pitmaster.models import Outcome, RunningAttempt, Status
from pitmaster.stops import TIMEOUT
from pitmaster.store.store import Store

logger = logging.getLogger(__name__)


class StopStep(StrEnum):
    NONE = "none"
    TIME_OUT = "time out"  # the timeout has just passed: ask for a stop, then SIGTERM
    TERMINATE = "terminate"  # a stop was asked for and not yet signalled: SIGTERM
    KILL = "kill"  # SIGTERM went out more than the grace ago: SIGKILL


def stop_step(attempt: RunningAttempt, now: datetime) -> StopStep:
    """What to do now about stopping a still-running attempt."""
    if attempt.stop_reason is None:
        timeout = attempt.timeout_seconds
        started = attempt.started_at
        if (
            timeout is not None
            and started is not None
            and now - started >= timedelta(seconds=timeout)
        ):
            return StopStep.TIME_OUT
        return StopStep.NONE
    if attempt.stop_signalled_at is None:
        return StopStep.TERMINATE
    if now - attempt.stop_signalled_at >= timedelta(seconds=attempt.stop_grace_seconds):
        return StopStep.KILL
    return StopStep.NONE


def outcome_of(observation: Observation | None) -> Outcome | None:
    """How an attempt ended, from what the engine shows; None while it still runs.

    A stop asked of the attempt (timeout, cancel) is applied by the store when
    it records this (``stops.settle``), against the stop as it stands then.
    """
    if observation is not None and observation.state is not ContainerState.EXITED:
        return None
    if observation is None:
        return Outcome(Status.ERROR, "lost")
    if observation.oom_killed:
        status, reason = Status.FAILED, "oom"
    elif observation.exit_code == 0:
        status, reason = Status.SUCCESS, "exited 0"
    else:
        status, reason = Status.FAILED, f"exited {observation.exit_code}"
    return Outcome(
        status,
        reason,
        observation.exit_code,
        finished_at=observation.finished_at,
        started_at=observation.started_at,
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Poller:
    def __init__(
        self,
        store: Store,
        executor: Executor,
        log_limit_bytes: int,
        clock: Callable[[], datetime] = _utc_now,
        metrics: Metrics | None = None,
        leave_fresh_exits: float = 0.0,
    ) -> None:
        """``leave_fresh_exits``: seconds a sweep leaves a fresh exit to its exit event."""
        self._leave_fresh_exits = timedelta(seconds=leave_fresh_exits)
        self._store = store
        self._executor = executor
        self._log_limit_bytes = log_limit_bytes
        self._now = clock
        self._metrics = metrics or Metrics()

    def sweep(self) -> int:
        """One pass over this engine's running attempts; returns how many it recorded."""
        running = self._store.running_attempts(self._executor.engine_id())
        if not running:
            return 0
        random.shuffle(running)
        observed = self._executor.observe([attempt.container_id for attempt in running])
        recorded = 0
        now = self._now()
        for attempt in running:
            observation = observed.get(attempt.container_id)
            outcome = outcome_of(observation)
            if outcome is None:
                self._enforce_stop(attempt, now)
            elif self._is_fresh(outcome, now):
                continue  # its exit event is being handled; a dropped one waits a sweep
            elif self._record(attempt, outcome):
                recorded += 1
        return recorded

    def _is_fresh(self, outcome: Outcome, now: datetime) -> bool:
        if outcome.finished_at is None:
            return False
        # A negative age means the engine's clock runs ahead of ours: don't wait on it.
        return timedelta(0) <= now - outcome.finished_at < self._leave_fresh_exits

    def settle(self, attempt: RunningAttempt) -> bool:
        """Record an attempt whose container was just seen to exit; True if this call did."""
        outcome = outcome_of(self._executor.observe_one(attempt.container_id))
        if outcome is None:
            return False  # running after all (restarted, or a stale event)
        return self._record(attempt, outcome)

    def _enforce_stop(self, attempt: RunningAttempt, now: datetime) -> None:
        step = stop_step(attempt, now)
        if step is StopStep.TIME_OUT:
            if not self._store.request_stop(attempt.attempt_id, TIMEOUT):
                return  # cancelled or timed out by someone else meanwhile
            logger.info("execution %s timed out; stopping it", attempt.message_id)
            step = StopStep.TERMINATE
        if step is StopStep.TERMINATE:
            self._executor.kill(attempt.container_id, "SIGTERM")
            self._store.mark_stop_signalled(attempt.attempt_id)
        elif step is StopStep.KILL:
            self._executor.kill(attempt.container_id, "SIGKILL")

    def _record(self, attempt: RunningAttempt, outcome: Outcome) -> bool:
        if outcome.finished_at is not None:  # the container is there: keep its output
            logs = self._executor.logs(attempt.container_id, self._log_limit_bytes)
            outcome = replace(outcome, stdout=logs.stdout, stderr=logs.stderr)
        if not self._store.record_outcome(attempt.attempt_id, outcome):
            return False
        started_at = outcome.started_at or attempt.started_at
        started = started_at.timestamp() if started_at else None
        self._metrics.observe_ending(outcome, started)
        if outcome.finished_at is not None:
            lag = (self._now() - outcome.finished_at).total_seconds()
            self._metrics.detection_lag.observe(max(0.0, lag))
        logger.info(
            "execution %s ended %s (%s)", attempt.message_id, outcome.status, outcome.reason
        )
        self._executor.remove(attempt.container_id)
        return True
