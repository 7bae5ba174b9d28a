"""The end of a running attempt's output so far, read from its engine while it runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from pitmaster.errors import PitmasterError
from pitmaster.executors.base import LogReader, Logs
from pitmaster.models import Attempt, AttemptState
from pitmaster.services.executions import shown_attempt

logger = logging.getLogger(__name__)


class ReadersBusy(Exception):
    """Every live output reader of this process is busy."""


@dataclass(frozen=True)
class LiveOutput:
    """Reads running jobs' output from the one engine this process can reach (``up``).

    ``readers`` bounds the reads under way at once (``live_output_readers``);
    each reads at most ``limit_bytes`` of each stream.
    """

    reader: LogReader | None
    readers: threading.BoundedSemaphore
    limit_bytes: int

    def running_output(self, attempts: Sequence[Attempt], *, wait: bool = False) -> Logs | None:
        """The running attempt's output so far; None if there is none this process can read.

        Beyond ``readers`` reads at once: ``ReadersBusy`` (or, with ``wait``, a wait of up
        to a second, then None).
        """
        running = next((a for a in attempts if a.state is AttemptState.RUNNING), None)
        if self.reader is None or running is None or running.container_id is None:
            return None
        if not self.readers.acquire(timeout=1 if wait else None, blocking=wait):
            if wait:
                return None
            raise ReadersBusy
        try:
            if running.engine_id != self.reader.engine_id():
                return None
            return self.reader.recent_logs(running.container_id, self.limit_bytes)
        except PitmasterError as exc:
            logger.info("output of %s not readable now: %s", running.container_id[:12], exc)
            return None
        finally:
            self.readers.release()


@dataclass(frozen=True)
class OutputSoFar:
    """An execution's output as far as it goes now, and which attempt it belongs to.

    ``live``: the running attempt's output read from its engine (the end of it);
    otherwise the stored output of the last ended attempt, if any.
    """

    attempt: int | None
    live: bool
    stdout: str
    stderr: str


def output_so_far(live_output: LiveOutput, attempts: Sequence[Attempt]) -> OutputSoFar:
    """What ``pitmaster logs --follow`` shows next: the running attempt's output, else the stored.

    When every live reader is busy this waits up to a second for one, then answers
    with the stored output: a follower asks again shortly anyway.
    """
    running = live_output.running_output(attempts, wait=True)
    if running is not None:
        number = next(a.number for a in attempts if a.state is AttemptState.RUNNING)
        return OutputSoFar(number, live=True, stdout=running.stdout, stderr=running.stderr)
    ended = shown_attempt(attempts)
    if ended is None:
        return OutputSoFar(None, live=False, stdout="", stderr="")
    return OutputSoFar(
        ended.number, live=False, stdout=ended.stdout or "", stderr=ended.stderr or ""
    )
