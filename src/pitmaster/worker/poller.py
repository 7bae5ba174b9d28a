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

from pitmaster.executors.base import ContainerState, Executor, ExitEvent, Observation
from pitmaster.metrics import Metrics
from pitmaster.models import EndingReason, Outcome, Output, RunningAttempt, Status
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


def _ending(exit_code: int | None, oom_killed: bool) -> tuple[Status, str]:
    if oom_killed:
        return Status.FAILED, EndingReason.OOM.value
    if exit_code == 0:
        return Status.SUCCESS, "exited 0"
    return Status.FAILED, f"exited {exit_code}"


def outcome_of(observation: Observation | None) -> Outcome | None:
    """How an attempt ended, from what the engine shows; None while it still runs.

    A stop asked of the attempt (timeout, cancel) is applied by the store when
    it records this (``stops.settle``), against the stop as it stands then.
    """
    if observation is not None and observation.state is not ContainerState.EXITED:
        return None
    if observation is None:
        return Outcome(Status.ERROR, EndingReason.LOST.value)
    if observation.exit_code is None and observation.error:
        # The engine ended it without running it (a cluster found no node for it, say).
        return Outcome(Status.ERROR, observation.error, finished_at=observation.finished_at)
    status, reason = _ending(observation.exit_code, observation.oom_killed)
    return Outcome(
        status,
        reason,
        observation.exit_code,
        finished_at=observation.finished_at,
        started_at=observation.started_at,
    )


# SIGKILL from outside may be `docker rm -f`, which kills before it removes: only
# the engine can tell that from a kill (the container is being removed: lost).
_KILLED = 128 + 9


def outcome_of_exit(event: ExitEvent) -> Outcome | None:
    """How an attempt ended, from its exit event alone; None if the event cannot say."""
    if event.exit_code is None or (event.exit_code == _KILLED and not event.oom_killed):
        return None
    status, reason = _ending(event.exit_code, event.oom_killed)
    return Outcome(status, reason, event.exit_code, finished_at=event.at)


class Settled(StrEnum):
    NOT_RECORDED = "not recorded"  # still running, or someone else recorded it
    RECORDED = "recorded"  # the ending and its output, in one write
    OUTPUT_PENDING = "output pending"  # the ending; its output is still to collect
    ASK_ENGINE = "ask the engine"  # the event cannot say: ``settle_by_asking`` off this thread


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
        now = self._now()
        self._collect_left_output(now)
        running = self._store.running_attempts(self._executor.engine_id())
        if not running:
            return 0
        random.shuffle(running)
        observed = self._executor.observe([attempt.container_id for attempt in running])
        # Ages are told from after the listing: a container that exited while it was
        # made is fresh, not a sign of an engine whose clock runs ahead.
        now = self._now()
        recorded = 0
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

    def settle(self, attempt: RunningAttempt, event: ExitEvent) -> Settled:
        """Record an attempt whose container was just seen to exit.

        The ending is recorded from the event alone, before any call to the
        engine: Docker answers about a container only once it has torn down
        its network, which takes a while after the event. The output, and
        Docker's exact times, are then the caller's to collect
        (``collect_output``), off the path of the next exit.
        """
        outcome = outcome_of_exit(event)
        if outcome is None:
            return Settled.ASK_ENGINE
        if not self._store.record_outcome(attempt.attempt_id, outcome, output_pending=True):
            return Settled.NOT_RECORDED
        self._observe_ending(attempt, outcome)
        return Settled.OUTPUT_PENDING

    def settle_by_asking(self, attempt: RunningAttempt) -> Settled:
        """Record an exit its event could not explain (a SIGKILL: killed, or removed?)."""
        outcome = outcome_of(self._executor.observe_one(attempt.container_id))
        if outcome is not None and self._record(attempt, outcome):
            return Settled.RECORDED
        return Settled.NOT_RECORDED

    def end_stranded(self, silent_seconds: float) -> int:
        """End the attempts on engines no worker has reached for ``silent_seconds``."""
        stranded = self._store.end_stranded_attempts(silent_seconds)
        for attempt in stranded:
            logger.warning(
                "execution %s ended in error: engine %s has had no worker since %s",
                attempt.message_id,
                attempt.engine,
                attempt.silent_since.isoformat(),
            )
        return len(stranded)

    def remove_left_behind(self, settled_seconds: float = 60) -> int:
        """Remove this engine's containers whose attempts ended over ``settled_seconds`` ago.

        Such a container was made for an attempt that ended without it: its
        engine was silent for too long and the attempt ended in error, and the
        engine came back. Its run is not recorded (the attempt's ending stands).
        One whose attempt ended just now is left to the worker that recorded it.
        """
        containers = self._executor.attempt_containers(self._store.installation_id())
        unneeded = self._store.left_behind(set(containers.values()), settled_seconds)
        for handle, attempt_id in containers.items():
            if attempt_id in unneeded:
                logger.warning(
                    "removing container %s of attempt %s, which has already ended",
                    handle[:12],
                    attempt_id,
                )
                self._executor.remove(handle)
        return len(unneeded)

    def collect_output(self, attempt_id: int, container_id: str) -> None:
        """Store an ended attempt's output and Docker's times, then remove its container."""
        observation = self._executor.observe_one(container_id)
        if observation is None:  # gone (removed from outside): nothing more to learn
            self._store.record_output(attempt_id, Output(stdout="", stderr=""))
            return
        logs = self._executor.logs(container_id, self._log_limit_bytes)
        output = Output(logs.stdout, logs.stderr, observation.started_at, observation.finished_at)
        if self._store.record_output(attempt_id, output):
            self._executor.remove(container_id)

    def _collect_left_output(self, now: datetime) -> None:
        """Finish what a watcher began and did not end (it crashed, or the engine failed it)."""
        engine = self._executor.engine_id()
        for attempt_id, container_id in self._store.awaiting_output(
            engine, now - self._leave_fresh_exits
        ):
            self.collect_output(attempt_id, container_id)

    def _enforce_stop(self, attempt: RunningAttempt, now: datetime) -> None:
        step = stop_step(attempt, now)
        if step is StopStep.TIME_OUT:
            if not self._store.request_stop(attempt.attempt_id, EndingReason.TIMEOUT.value):
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
        self._observe_ending(attempt, outcome)
        self._executor.remove(attempt.container_id)
        return True

    def _observe_ending(self, attempt: RunningAttempt, outcome: Outcome) -> None:
        started_at = outcome.started_at or attempt.started_at
        started = started_at.timestamp() if started_at else None
        self._metrics.observe_ending(outcome, started)
        if outcome.finished_at is not None:
            lag = (self._now() - outcome.finished_at).total_seconds()
            self._metrics.detection_lag.observe(max(0.0, lag))
        logger.info(
            "execution %s ended %s (%s)", attempt.message_id, outcome.status, outcome.reason
        )
