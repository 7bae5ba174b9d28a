"""The Swarm executor beside the Docker executor, on one engine, in one run.

Both run on the second engine (``scripts/ensure-swarm.sh`` makes it a
single-node swarm): the Docker executor makes containers there, the Swarm
executor makes replicated-job services that Swarm turns into containers on
the same node. The same image, database kind and job; jobs run without a
network (that engine has no bridge). Read the ratios, not the numbers.
"""

from __future__ import annotations

import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import docker

from bench.common import IMAGE, ROOT, Pitmaster, database, pitmaster
from bench.docker_paths import summary

EXECUTORS = ("docker", "swarm")


def swarm_host() -> tuple[str | None, str]:
    """The swarm manager's DOCKER_HOST, or None and why there is none."""
    result = subprocess.run(
        [ROOT / "scripts" / "ensure-swarm.sh"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return None, (result.stderr.strip().splitlines() or ["ensure-swarm.sh failed"])[-1]
    return result.stdout.strip().splitlines()[-1], ""


def _parse(value: object) -> float:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _settings(executor: str, host: str, concurrency: int) -> dict[str, str]:
    return {
        "executor": executor,
        "docker_host": host,
        "runner_threads": str(concurrency),
        "max_concurrent_executions": str(concurrency),
    }


def _define(pm: Pitmaster) -> None:
    pm.client.post("/v1/apps", json={"name": "bench", "docker_image": IMAGE})
    pm.client.post(
        "/v1/apps/bench/job_definitions",
        json={"job": "noop", "command": ["true"], "network": "none"},
    )


def throughput(executor: str, host: str, url: str, jobs: int, concurrency: int) -> float:
    """Jobs per second from the first enqueue until the last ending is stored with its output."""
    with pitmaster("up", url, **_settings(executor, host, concurrency)) as pm:
        _define(pm)
        started = time.time()
        ids = [pm.enqueue("bench", "noop") for _ in range(jobs)]
        pm.wait_all(ids)
        elapsed = pm.last_recorded(ids) - started
    return jobs / elapsed


def dispatch(executor: str, host: str, url: str, runs: int) -> list[float]:
    """Seconds from enqueue to the job's start (the engine's StartedAt), one job at a time."""
    latencies = []
    engine = docker.APIClient(base_url=host, version="auto")
    with pitmaster("up", url, **_settings(executor, host, 1)) as pm:
        _define(pm)
        for _ in range(runs):
            message_id = pm.enqueue("bench", "noop")
            pm.wait_all([message_id])
            _wait_gone(engine, f"pitmaster.execution={message_id}")
            execution = pm.execution(message_id, "__default__,retries")
            retries = execution["retries"]
            assert isinstance(retries, list)
            [attempt] = retries
            latencies.append(_parse(attempt["started_at"]) - _parse(execution["created_at"]))
    engine.close()
    return latencies


def _wait_gone(engine: Any, label: str) -> None:
    """Start the next job on an idle engine: the last one's container and service removed."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        containers = engine.containers(all=True, filters={"label": label})
        if not containers and not engine.services(filters={"label": label}):
            return
        time.sleep(0.01)


def run(admin_url: str, directory: Path, quick: bool) -> dict[str, object] | None:
    """Both executors' figures, or None (after saying why) when no swarm can be had."""
    host, why = swarm_host()
    if host is None:
        print(f"bench.swarm: skipped, no swarm available ({why})")
        return None
    jobs = 20 if quick else 60
    runs = 10 if quick else 30
    rates: dict[tuple[str, int], float] = {}
    latencies: dict[str, tuple[float, float]] = {}
    for concurrency in (1, 4):
        for executor in EXECUTORS:
            with database("postgresql", admin_url, directory) as url:
                rates[(executor, concurrency)] = throughput(executor, host, url, jobs, concurrency)
    for executor in EXECUTORS:
        with database("postgresql", admin_url, directory) as url:
            latencies[executor] = summary(dispatch(executor, host, url, runs))
    return {"throughput": rates, "dispatch": latencies}


def report(results: dict[str, object] | None) -> list[str]:
    if results is None:
        return ["Skipped: no swarm was available (`scripts/ensure-swarm.sh` failed)."]
    rates: dict[tuple[str, int], float] = results["throughput"]  # type: ignore[assignment]
    dispatched: dict[str, tuple[float, float]] = results["dispatch"]  # type: ignore[assignment]
    lines = [
        "| measure | Docker executor | Swarm executor | Swarm / Docker |",
        "| --- | --- | --- | --- |",
    ]
    for concurrency in sorted({c for _, c in rates}):
        docker_rate, swarm_rate = rates[("docker", concurrency)], rates[("swarm", concurrency)]
        lines.append(
            f"| jobs/s, concurrency {concurrency} | {docker_rate:.2f} | {swarm_rate:.2f} "
            f"| {swarm_rate / docker_rate:.2f}× |"
        )
    (d50, d99), (s50, s99) = dispatched["docker"], dispatched["swarm"]
    lines.append(
        f"| enqueue → started, p50 / p99 | {d50 * 1000:.0f} / {d99 * 1000:.0f} ms "
        f"| {s50 * 1000:.0f} / {s99 * 1000:.0f} ms | {s50 / d50:.2f}× / {s99 / d99:.2f}× |"
    )
    return lines


if __name__ == "__main__":
    import tempfile

    from bench.common import prepare

    with tempfile.TemporaryDirectory() as temporary:
        print("\n".join(report(run(prepare(), Path(temporary), quick=True))))
