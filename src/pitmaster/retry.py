"""Retry policy: which endings are retried, and how long to wait (barbeque's formula).

delay = min(2**retries * base_delay, max_delay); with jitter, uniform in [0, delay].
Pure logic: no I/O, so the rules are easy to test and reason about.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pitmaster.models import BASE_DELAY_SECONDS, RETRY_LIMIT, EndingReason, JobDefinition, Status


class Ending(StrEnum):
    """The kinds of ending a retry policy can name in ``retry_on``."""

    FAILED = Status.FAILED.value  # the job exited non-zero
    OOM = EndingReason.OOM.value  # the engine killed it for using too much memory
    TIMEOUT = EndingReason.TIMEOUT.value  # it ran past timeout_seconds
    LOST = EndingReason.LOST.value  # its container disappeared
    ERROR = Status.ERROR.value  # it could not be started


ALL_ENDINGS = frozenset(Ending)


@dataclass(frozen=True)
class RetryPolicy:
    retry_limit: int = RETRY_LIMIT
    base_delay: float = BASE_DELAY_SECONDS
    max_delay: float | None = None
    jitter: bool = False
    retry_on: frozenset[Ending] = ALL_ENDINGS
    # With FAILED in retry_on: only these exit codes are retried (None: any non-zero).
    retry_exit_codes: frozenset[int] | None = None

    @classmethod
    def of(cls, definition: JobDefinition) -> RetryPolicy:
        return cls(
            retry_limit=definition.retry_limit,
            base_delay=definition.base_delay,
            max_delay=definition.max_delay,
            jitter=definition.jitter,
            retry_on=(
                frozenset(Ending(name) for name in definition.retry_on)
                if definition.retry_on is not None
                else ALL_ENDINGS
            ),
            retry_exit_codes=(
                frozenset(definition.retry_exit_codes)
                if definition.retry_exit_codes is not None
                else None
            ),
        )

    def delay(
        self, retries: int, uniform: Callable[[float, float], float] = random.uniform
    ) -> float:
        """Seconds to wait before retry number ``retries + 1`` (``retries`` already made)."""
        delay = (2**retries) * self.base_delay
        if self.max_delay is not None:
            delay = min(delay, self.max_delay)
        return uniform(0.0, delay) if self.jitter else delay

    def should_retry(self, ending: Ending, exit_code: int | None, retries: int) -> bool:
        """Whether an attempt that ended so, after ``retries`` retries, gets another."""
        if retries >= self.retry_limit or ending not in self.retry_on:
            return False
        if ending is Ending.FAILED and self.retry_exit_codes is not None:
            return exit_code in self.retry_exit_codes
        return True


def ending_of(status: Status, reason: str | None) -> Ending | None:
    """The retry-relevant kind of an attempt's ending; None for success and cancellation."""
    if status is Status.FAILED:
        if reason == EndingReason.OOM:
            return Ending.OOM
        if reason == EndingReason.TIMEOUT:
            return Ending.TIMEOUT
        return Ending.FAILED
    if status is Status.ERROR:
        return Ending.LOST if reason == EndingReason.LOST else Ending.ERROR
    return None
