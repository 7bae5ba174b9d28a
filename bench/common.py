"""What the benchmarks share: a pitmaster process to measure, databases, the image, statistics."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "pitmaster-demo:latest"
# The admin token every pitmaster the benchmarks start runs with, and their clients send.
ADMIN_TOKEN = f"bench-{secrets.token_hex(24)}"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def say(text: str) -> None:
    """Progress, on stderr: which measurement runs, and how far it is."""
    print(f"[{time.strftime('%H:%M:%S')}] bench: {text}", file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare() -> str:
    """Start Docker and PostgreSQL if need be, build the image; the PostgreSQL admin URL."""
    subprocess.run([ROOT / "scripts" / "ensure-docker.sh"], check=True)
    subprocess.run([ROOT / "scripts" / "build-demo-image.sh", IMAGE], check=True)
    result = subprocess.run(
        [ROOT / "scripts" / "ensure-postgres.sh"], check=True, capture_output=True, text=True
    )
    return result.stdout.strip().splitlines()[-1]


@contextmanager
def database(kind: str, admin_url: str, directory: Path) -> Iterator[str]:
    """A fresh database of the kind asked for, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{directory}/bench-{uuid.uuid4().hex[:8]}.db"
        return
    name = f"pitmaster_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Pitmaster:
    """A `pitmaster` process under measurement, and a client for its API."""

    process: subprocess.Popen[bytes]
    url: str
    client: httpx.Client

    def define(self, app: str, job: str, command: list[str]) -> None:
        self.client.post("/v1/apps", json={"name": app, "docker_image": IMAGE})
        self.client.post(f"/v1/apps/{app}/job_definitions", json={"job": job, "command": command})

    def enqueue(self, app: str, job: str, message: object = None) -> str:
        answer = self.client.post(
            "/v2/job_executions",
            json={"application": app, "job": job, "message": {} if message is None else message},
        )
        answer.raise_for_status()
        return str(answer.json()["message_id"])

    def execution(self, message_id: str, fields: str = "__default__") -> dict[str, object]:
        result: dict[str, object] = self.client.get(
            f"/v1/job_executions/{message_id}", params={"fields": fields}
        ).json()
        return result

    def wait_all(self, message_ids: list[str], timeout: float = 600) -> None:
        """Wait until every execution has ended, asking about one at a time.

        The process under measurement also serves these requests, so the
        waiting is kept light: one request per 100 ms at most.
        """
        deadline = time.monotonic() + timeout
        for message_id in message_ids:
            while not _settled(self.execution(message_id)):
                if time.monotonic() > deadline:
                    raise SystemExit(f"execution {message_id} did not end within {timeout} s")
                time.sleep(0.1)

    def last_recorded(self, message_ids: list[str]) -> float:
        """When the last of these executions had its ending and its output stored (epoch s)."""
        latest = 0.0
        for message_id in message_ids:
            execution = self.execution(message_id, "__default__,retries")
            retries = execution["retries"]
            assert isinstance(retries, list)
            for attempt in retries:
                stored = datetime.fromisoformat(str(attempt["output_recorded_at"]))
                latest = max(latest, stored.timestamp())
        return latest


def _settled(execution: dict[str, object]) -> bool:
    """Ended, and its output stored."""
    ended = execution["status"] not in ("pending", "running", "retried")
    return ended and not execution.get("output_pending", False)


@contextmanager
def pitmaster(command: str, database_url: str, **settings: str) -> Iterator[Pitmaster]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PITMASTER_DATABASE_URL": database_url,
        "PITMASTER_LOG_LEVEL": "WARNING",
        # One token drives every benchmark as fast as it can: no per-caller rate limit.
        "PITMASTER_RATE_LIMIT": "0",
        "PITMASTER_ADMIN_TOKEN": ADMIN_TOKEN,
        **{f"PITMASTER_{key.upper()}": value for key, value in settings.items()},
    }
    args = [sys.executable, "-m", "pitmaster", command]
    if command in ("up", "server"):
        args += ["--port", str(port)]
    process = subprocess.Popen(args, env=env)
    client = httpx.Client(base_url=url, headers=ADMIN, timeout=60)
    try:
        if command in ("up", "server"):
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("pitmaster did not start")
                time.sleep(0.05)
        yield Pitmaster(process=process, url=url, client=client)
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def remove_containers(label: str) -> None:
    import docker

    client = docker.from_env()
    for container in client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)
    client.close()
