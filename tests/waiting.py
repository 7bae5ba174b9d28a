"""The one way tests wait: poll a condition until it holds, and fail saying what never happened.

A test that sleeps a fixed time either waits too long on a fast machine or too
little on a busy one; a test that waits for the condition it needs does
neither. Timeouts are failure bounds, not expectations: make them generous
(a shared two-core machine can be ten times slower than a laptop), and put
"how fast" questions in ``bench/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str | None = None,
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy; return that.

    After ``timeout`` seconds without, fail with an ``AssertionError`` naming
    ``what`` was awaited (the condition's name by default) and the last value seen.
    The condition is always called once more at the deadline, so a slow
    machine that got there in the end still passes.
    """
    deadline = time.monotonic() + timeout
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            awaited = what or getattr(condition, "__qualname__", repr(condition))
            raise AssertionError(
                f"timed out after {timeout} s waiting for {awaited}; last seen: {last!r}"
            )
        time.sleep(interval)
