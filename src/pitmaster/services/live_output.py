"""The end of a running attempt's output so far, read from its engine while it runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from pitmaster.errors import PitmasterError
from pitmaster.executors.base import LogReader, Logs
from pitmaster.models import Attempt, AttemptState

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
            if running.docker_host != self.reader.engine_id():
                return None
            return self.reader.recent_logs(running.container_id, self.limit_bytes)
        except PitmasterError as exc:
            logger.info("output of %s not readable now: %s", running.container_id[:12], exc)
            return None
        finally:
            self.readers.release()
