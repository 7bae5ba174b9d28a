"""300 containers running at once under one worker: Docker API calls per sweep, CPU, memory.

The worker reaches Docker through a relay (the one the tests use to cut the
engine off) that counts the HTTP requests it makes, so calls per sweep are
counted, not estimated.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.common import database, pitmaster, remove_containers
from tests.relays import DockerRelay


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(admin_url: str, directory: Path, count: int, window: float) -> dict[str, float]:
    relay = DockerRelay(directory / f"docker-{count}.sock")
    relay.start()
    try:
        with (
            database("postgresql", admin_url, directory) as url,
            pitmaster("server", url) as server,
        ):
            server.define("bench", "sleeper", ["sleep", "3600"])
            ids = [server.enqueue("bench", "sleeper") for _ in range(count)]
            with pitmaster(
                "worker", url, runner_threads="8", docker_host=relay.url, poll_interval="1"
            ) as worker:
                deadline = time.monotonic() + 900
                while any(server.execution(m)["status"] != "running" for m in ids[-5:] + ids[:5]):
                    if time.monotonic() > deadline:
                        raise SystemExit("containers did not all start")
                    time.sleep(1)
                while server.client.get(
                    "/v1/job_executions", params={"status": "pending", "limit": 1}
                ).json()["items"]:
                    time.sleep(1)
                time.sleep(3)  # let the starts' last calls drain before counting
                pid = worker.process.pid
                cpu_before, requests_before = _cpu_seconds(pid), relay.requests
                time.sleep(window)
                cpu = _cpu_seconds(pid) - cpu_before
                requests = relay.requests - requests_before
                rss = _rss_mb(pid)
            label = "pitmaster.app=bench"
            remove_containers(label)
    finally:
        relay.stop()
    sweeps = window / 1.0
    return {
        "running": count,
        "calls_per_sweep": requests / sweeps,
        "cpu_share": cpu / window,
        "rss_mb": rss,
    }


def run(admin_url: str, directory: Path, quick: bool) -> dict[str, object]:
    window = 10.0 if quick else 30.0
    return {
        "small": measure(admin_url, directory, 10, window),
        "large": measure(admin_url, directory, 100 if quick else 300, window),
    }
