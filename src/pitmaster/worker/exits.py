"""Matching Docker's exit events with running attempts, even when the exit comes first.

A short job can exit before its runner has stored it as running. Its event
then finds no running attempt; it is kept here for a while, and the runner
asks after storing the attempt, so the exit is recorded at once rather than
at the next periodic sweep. One lock orders the two sides: either the event's
lookup sees the stored attempt, or the runner sees the noted exit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pitmaster.executors.base import ExitEvent
from pitmaster.models import RunningAttempt

# Events of containers this worker never stores (other installations sharing
# the engine) are noted too; they are forgotten after this long.
KEEP_SECONDS = 300.0


class ExitBook:
    def __init__(
        self, keep_seconds: float = KEEP_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._keep_seconds = keep_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._early: dict[str, tuple[float, ExitEvent]] = {}

    def attempt_for(
        self, event: ExitEvent, lookup: Callable[[str], RunningAttempt | None]
    ) -> RunningAttempt | None:
        """The running attempt of a container that exited; None (and noted) if none is stored."""
        with self._lock:
            attempt = lookup(event.handle)
            if attempt is None:
                self._forget_old()
                self._early[event.handle] = (self._clock(), event)
            return attempt

    def exited_early(self, handle: str) -> ExitEvent | None:
        """The exit event of this container if it came before its attempt was stored as running."""
        with self._lock:
            noted = self._early.pop(handle, None)
            return noted[1] if noted is not None else None

    def __len__(self) -> int:
        return len(self._early)

    def _forget_old(self) -> None:
        horizon = self._clock() - self._keep_seconds
        for handle in [h for h, (noted, _) in self._early.items() if noted < horizon]:
            del self._early[handle]
