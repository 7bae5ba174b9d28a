"""Finding and removing the containers a test's database made, without racing their removal.

``containers.list()`` inspects every container it lists, one request each, and
fails with ``NotFound`` when a worker removes one in between. A sparse listing
is the one list call alone; removing tolerates a container already gone.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter

import docker
from docker.models.containers import Container

from pitmaster.executors.docker import ATTEMPT_LABEL


def labelled(client: docker.DockerClient, label: str) -> list[Container]:
    """Every container (running or not) carrying ``label``, from one list call."""
    containers: list[Container] = client.containers.list(
        all=True, filters={"label": label}, sparse=True
    )
    return containers


def remove_labelled(client: docker.DockerClient, label: str) -> None:
    """Remove every container carrying ``label``; those removed meanwhile are fine."""
    for container in labelled(client, label):
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # removal already in progress
                raise


class EventCounter:
    """Counts one kind of engine event (``create``, ``start``...) of containers carrying
    ``label``, by attempt, following the engine's events live from the moment it is made.

    Looking back with ``since`` is not enough: the engine keeps only its last 256
    events, which the tests running beside this one use up within seconds.
    """

    def __init__(self, client: docker.DockerClient, label: str, action: str) -> None:
        self._by_attempt: Counter[str] = Counter()
        self._changed = threading.Condition()
        filters = {"type": "container", "event": action, "label": label}
        self._stream = client.api.events(filters=filters, decode=True)  # subscribed on return
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        with contextlib.suppress(Exception):  # the stream ends when closed
            for event in self._stream:
                attempt = event.get("Actor", {}).get("Attributes", {}).get(ATTEMPT_LABEL, "")
                with self._changed:
                    self._by_attempt[attempt] += 1
                    self._changed.notify_all()

    def by_attempt(self, expected: int, timeout: float = 10) -> Counter[str]:
        """The events seen, by attempt id, once at least ``expected`` are in (or ``timeout``
        seconds have passed: the events come a moment after what caused them)."""
        with self._changed:
            self._changed.wait_for(lambda: self._by_attempt.total() >= expected, timeout)
            return Counter(self._by_attempt)

    def total(self, expected: int, timeout: float = 10) -> int:
        return self.by_attempt(expected, timeout).total()

    def close(self) -> None:
        self._stream.close()
