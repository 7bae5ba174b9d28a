"""Keeping a worker's loops alive: any failure is logged, counted, backed off from, and survived.

A loop that dies ends its thread for good while the heartbeat goes on saying
the worker is alive; a poller that died would never carry out a timeout or a
cancel again. So every loop runs its steps through ``Supervisor.guard``, and
a loop that keeps failing marks the worker unhealthy, which its heartbeat,
``/v1/workers``, the console and the worker's ``/healthz`` show.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pitmaster.errors import ExecutorError, PitmasterError
from pitmaster.metrics import Metrics

logger = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0


@dataclass
class _LoopState:
    failures_in_a_row: int = 0
    last_error: str = ""


@dataclass
class Supervisor:
    """The health of a worker's loops; ``guard`` runs one step of a loop."""

    metrics: Metrics
    stopping: threading.Event
    unhealthy_after_failures: int = 5
    _loops: dict[str, _LoopState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def succeeded(self, loop: str) -> None:
        with self._lock:
            self._loops[loop] = _LoopState()

    def failed(self, loop: str, exc: BaseException, instance: str | None = None) -> float:
        """Log and count a failure of ``loop``; returns how long it should back off."""
        if isinstance(exc, ExecutorError):
            self.metrics.engine_errors.labels(loop).inc()
        self.metrics.loop_errors.labels(loop).inc()
        with self._lock:
            state = self._loops.setdefault(instance or loop, _LoopState())
            state.failures_in_a_row += 1
            state.last_error = f"{type(exc).__name__}: {exc}"
            failures = state.failures_in_a_row
        backoff = float(min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (failures - 1)))
        if isinstance(exc, PitmasterError):  # an engine or database we know can fail
            logger.warning("%s: %s; again in %.1f s", loop, exc, backoff)
        else:  # a bug, or a failure nobody expected: the traceback is what helps
            logger.error("%s failed; again in %.1f s", loop, backoff, exc_info=exc)
        return backoff

    def guard(self, loop: str, step: Callable[[], object], instance: str | None = None) -> bool:
        """Run ``step()``; on any exception, count it and back off. False if it failed.

        ``instance`` tells apart threads running the same loop (runner-0,
        runner-1): each has its own run of failures, all counted under ``loop``.
        """
        key = instance or loop
        try:
            step()
        except Exception as exc:
            self.stopping.wait(self.failed(loop, exc, key))
            return False
        self.succeeded(key)
        return True

    def unhealthy_reason(self) -> str | None:
        """Why the worker is unhealthy (the loops that keep failing), or None when it is not."""
        with self._lock:
            failing = [
                f"{loop} failed {state.failures_in_a_row} times in a row ({state.last_error})"
                for loop, state in sorted(self._loops.items())
                if state.failures_in_a_row >= self.unhealthy_after_failures
            ]
        return "; ".join(failing) if failing else None
