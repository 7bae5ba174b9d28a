"""Waking idle runners one at a time.

Each ring lets one waiting runner look for work. A runner that finds some
rings again, so a burst of work draws in runners one after another, while a
single freed slot wakes one runner rather than all of them racing for it.
"""

from __future__ import annotations

import threading


class Doorbell:
    def __init__(self, most_rings: int) -> None:
        self._most_rings = most_rings  # rings beyond the number of runners wake nobody
        self._rings = 0
        self._everyone = False
        self._condition = threading.Condition()

    def ring(self) -> None:
        with self._condition:
            self._rings = min(self._rings + 1, self._most_rings)
            self._condition.notify()

    def ring_everyone(self) -> None:
        """Wake every runner, now and from now on (the worker is stopping)."""
        with self._condition:
            self._everyone = True
            self._condition.notify_all()

    def wait(self, timeout: float) -> bool:
        """Wait for a ring, at most ``timeout`` seconds; True if one came."""
        with self._condition:
            rung = self._condition.wait_for(lambda: self._rings > 0 or self._everyone, timeout)
            if rung and not self._everyone:
                self._rings -= 1
            return rung
