"""How long Docker keeps a container busy after its `die` event, by network mode.

Docker sends `die` while it still holds the container, then tears down its
network before it answers any call about it. Whatever pitmaster asks first
(the inspect for the exit code and times) waits for that; this measures the
wait with plain docker-py, on the default bridge and with no network.
"""

from __future__ import annotations

import statistics
import threading
import time

import docker

from bench.common import IMAGE, percentile, remove_containers

LABEL = "pitmaster-bench-post-exit"


def first_call_after_die(network_mode: str, runs: int) -> tuple[float, float]:
    """p50 and p99 seconds from receiving `die` to the answer of an inspect made at once."""
    api = docker.APIClient(version="auto")
    events = api.events(decode=True, filters={"type": "container", "event": "die", "label": LABEL})
    waits: dict[str, float] = {}

    def listen() -> None:
        for event in events:
            received = time.perf_counter()
            handle = event["Actor"]["ID"]
            api.inspect_container(handle)
            waits[handle] = time.perf_counter() - received

    threading.Thread(target=listen, daemon=True).start()
    try:
        for _ in range(runs):
            container = api.create_container(
                IMAGE,
                ["true"],
                labels={LABEL: "1"},
                host_config=api.create_host_config(network_mode=network_mode),
            )["Id"]
            api.start(container)
            while container not in waits:
                time.sleep(0.002)
            api.remove_container(container, force=True)
    finally:
        events.close()
        remove_containers(LABEL)
    values = list(waits.values())
    return statistics.median(values), percentile(values, 0.99)


def run(quick: bool) -> dict[str, tuple[float, float]]:
    runs = 15 if quick else 40
    return {mode: first_call_after_die(mode, runs) for mode in ("bridge", "none")}
