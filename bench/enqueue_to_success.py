"""Median time from enqueue to a recorded `success`, beside a plain `docker run --rm`.

Both run the same trivial command in the same local image, one after the
other, in one run, so the figures compare as a ratio on a shared machine.

    .venv/bin/python bench/enqueue_to_success.py [--runs 20] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import ADMIN, ADMIN_TOKEN

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "pitmaster-demo:latest"
COMMAND = ["true"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("pitmaster exited while starting")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit("pitmaster did not start within 30 s")


def pitmaster_runs(url: str, runs: int) -> list[float]:
    client = httpx.Client(base_url=url, headers=ADMIN, timeout=30)
    client.post("/v1/apps", json={"name": "bench", "docker_image": IMAGE})
    client.post("/v1/apps/bench/job_definitions", json={"job": "noop", "command": COMMAND})
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = client.post(
            "/v2/job_executions", json={"application": "bench", "job": "noop", "message": {}}
        )
        message_id = answer.json()["message_id"]
        while True:
            status = client.get(f"/v1/job_executions/{message_id}").json()["status"]
            if status not in ("pending", "running", "retried"):
                break
            time.sleep(0.002)
        if status != "success":
            raise SystemExit(f"execution {message_id} ended {status}")
        timings.append(time.perf_counter() - started)
    return timings


def docker_runs(runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(["docker", "run", "--rm", IMAGE, *COMMAND], check=True)
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    subprocess.run([ROOT / "scripts" / "build-demo-image.sh", IMAGE], check=True)
    with tempfile.TemporaryDirectory() as directory:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "PITMASTER_DATABASE_URL": args.database_url or f"sqlite:///{directory}/bench.db",
            "PITMASTER_LOG_LEVEL": "WARNING",
            "PITMASTER_ADMIN_TOKEN": ADMIN_TOKEN,
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "pitmaster", "up", "--port", str(port)], env=env
        )
        try:
            wait_healthy(url, server)
            pitmaster = pitmaster_runs(url, args.runs)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    docker = docker_runs(args.runs)
    p, d = statistics.median(pitmaster), statistics.median(docker)
    print(f"runs: {args.runs} each, image {IMAGE}, command {' '.join(COMMAND)}")
    print(f"pitmaster enqueue -> success recorded: median {p * 1000:.0f} ms")
    print(f"docker run --rm:                       median {d * 1000:.0f} ms")
    print(f"ratio pitmaster / docker run: {p / d:.2f}")


if __name__ == "__main__":
    main()
