"""Throughput, dispatch overhead and detection lag: pitmaster beside bare docker-py.

Each figure is measured beside its baseline in the same run, on the same image
and network mode, and reported as a ratio or a difference.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import docker

from bench.common import IMAGE, database, percentile, pitmaster, remove_containers, say

BARE_LABEL = "pitmaster-bench-bare"


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- throughput ---------------------------------------------------------------------


def bare_throughput(jobs: int, concurrency: int) -> float:
    """Jobs per second of a docker-py thread loop: create, start, wait, logs, remove."""
    api = docker.APIClient(version="auto")
    per_thread = [
        jobs // concurrency + (1 if i < jobs % concurrency else 0) for i in range(concurrency)
    ]

    def loop(count: int) -> None:
        for _ in range(count):
            container = api.create_container(
                IMAGE, ["true"], labels={BARE_LABEL: "1"}, host_config=api.create_host_config()
            )["Id"]
            api.start(container)
            api.wait(container)
            api.logs(container, stdout=True, stderr=False)
            api.logs(container, stdout=False, stderr=True)
            api.remove_container(container, force=True)

    threads = [threading.Thread(target=loop, args=(count,)) for count in per_thread]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return jobs / (time.perf_counter() - started)


def pitmaster_throughput(database_url: str, jobs: int, concurrency: int) -> float:
    """Jobs per second from enqueue until every ending is recorded with its logs."""
    with pitmaster(
        "up",
        database_url,
        runner_threads=str(concurrency),
        max_concurrent_executions=str(concurrency),
    ) as pm:
        pm.define("bench", "noop", ["true"])
        started = time.time()
        ids = [pm.enqueue("bench", "noop") for _ in range(jobs)]
        pm.wait_all(ids)
        # Until the last ending was stored, not until this loop noticed it.
        elapsed = pm.last_recorded(ids) - started
    return jobs / elapsed


# -- dispatch overhead and detection lag --------------------------------------------------


@dataclass
class Latencies:
    dispatch: list[float]  # enqueue (or the create call) -> Docker's StartedAt
    detection: list[float]  # Docker's FinishedAt -> recorded (or the die event received)


def bare_latencies(runs: int) -> Latencies:
    api = docker.APIClient(version="auto")
    received: dict[str, float] = {}
    events = api.events(
        decode=True, filters={"type": "container", "event": "die", "label": BARE_LABEL}
    )

    def listen() -> None:
        for event in events:
            received[event["Actor"]["ID"]] = time.time()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    dispatch, detection = [], []
    for _ in range(runs):
        before = time.time()
        container = api.create_container(
            IMAGE, ["true"], labels={BARE_LABEL: "1"}, host_config=api.create_host_config()
        )["Id"]
        api.start(container)
        api.wait(container)
        while container not in received:
            time.sleep(0.001)
        state = api.inspect_container(container)["State"]
        dispatch.append(_parse(state["StartedAt"]).timestamp() - before)
        detection.append(received[container] - _parse(state["FinishedAt"]).timestamp())
        api.remove_container(container, force=True)
    events.close()
    return Latencies(dispatch, detection)


def pitmaster_latencies(database_url: str, runs: int) -> Latencies:
    dispatch, detection = [], []
    api = docker.APIClient(version="auto")
    with pitmaster("up", database_url) as pm:
        pm.define("bench", "noop", ["true"])
        for _ in range(runs):
            message_id = pm.enqueue("bench", "noop")
            pm.wait_all([message_id])
            # Like the bare loop, start the next job on an idle engine: the
            # worker removes a container just after recording its ending.
            label = f"pitmaster.execution={message_id}"
            while api.containers(all=True, filters={"label": label}):
                time.sleep(0.01)
            execution = pm.execution(message_id, "__default__,retries")
            retries = execution["retries"]
            assert isinstance(retries, list)
            [attempt] = retries
            created = _parse(str(execution["created_at"])).timestamp()
            dispatch.append(_parse(attempt["started_at"]).timestamp() - created)
            detection.append(
                _parse(attempt["recorded_at"]).timestamp()
                - _parse(attempt["finished_at"]).timestamp()
            )
    return Latencies(dispatch, detection)


def summary(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), percentile(values, 0.99)


def run(admin_url: str, directory: Path, quick: bool) -> dict[str, object]:
    jobs = 20 if quick else 60
    runs = 15 if quick else 50
    throughput: dict[tuple[str, int], tuple[float, float]] = {}
    latency: dict[str, tuple[Latencies, Latencies]] = {}
    try:
        for kind in ("sqlite", "postgresql"):
            for concurrency in (1, 4, 8):
                say(f"throughput, {kind}, concurrency {concurrency}: {jobs} jobs each side")
                bare = bare_throughput(jobs, concurrency)
                with database(kind, admin_url, directory) as url:
                    ours = pitmaster_throughput(url, jobs, concurrency)
                throughput[(kind, concurrency)] = (ours, bare)
            say(f"dispatch and detection latency, {kind}: {runs} jobs each side")
            bare_lat = bare_latencies(runs)
            with database(kind, admin_url, directory) as url:
                ours_lat = pitmaster_latencies(url, runs)
            latency[kind] = (ours_lat, bare_lat)
    finally:
        remove_containers(BARE_LABEL)
    return {"throughput": throughput, "latency": latency}
