"""HTTP enqueue beside its own stack's floor, batch enqueue, and enqueue with a long history.

- ``pitmaster server`` against a bare FastAPI endpoint that inserts one row
  through SQLAlchemy (``bench/bare_enqueue.py``), on the same database, with
  the same 8 keep-alive clients; and the server's peak RSS under that load.
- Batch enqueue: messages a second through ``POST /v2/job_executions/batch``.
- Enqueue with many ended executions in the tables against an empty table.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from bench.common import ADMIN, database, free_port, pitmaster, say
from pitmaster.store.engine import create_engine

CLIENTS = 8
BATCH_SIZE = 1000
Body = Callable[[], bytes]


def load(base_url: str, path: str, body: Body, requests: int, headers: dict[str, str]) -> float:
    """Requests a second: ``CLIENTS`` threads, each on one kept-alive connection.

    http.client rather than httpx: the clients share the machine with the
    server, and the lighter they are, the more of it the server gets.
    """
    parts = urlsplit(base_url)
    each = requests // CLIENTS
    failures: list[str] = []
    ready = threading.Barrier(CLIENTS + 1)

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        sent_headers = {"Content-Type": "application/json", **headers}
        ready.wait()
        for _ in range(each):
            conn.request("POST", path, body=body(), headers=sent_headers)
            answer = conn.getresponse()
            content = answer.read()
            if answer.status != 201:
                failures.append(f"{answer.status} {content[:200]!r}")
                break
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"bench: {path} answered {failures[0]}")
    return each * CLIENTS / elapsed


def _message() -> bytes:
    return json.dumps({"application": "bench", "job": "noop", "message": {"n": 1}}).encode()


def _batch() -> bytes:
    items = [
        {"application": "bench", "job": "noop", "message": {"n": i}} for i in range(BATCH_SIZE)
    ]
    return json.dumps({"items": items}).encode()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bare_rate(url: str, requests: int) -> float:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.bare_enqueue", url, str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("bench: the bare FastAPI endpoint did not start")
            time.sleep(0.05)
        load(base, "/enqueue", _message, requests // 10, {})  # warm up
        return load(base, "/enqueue", _message, requests, {})
    finally:
        process.terminate()
        process.wait(timeout=30)


def pitmaster_rates(url: str, requests: int, batches: int) -> dict[str, float]:
    """Enqueues a second, batch messages a second and peak RSS of one ``pitmaster server``."""
    with pitmaster("server", url) as server:
        server.define("bench", "noop", ["true"])
        load(server.url, "/v2/job_executions", _message, requests // 10, ADMIN)  # warm up
        single = load(server.url, "/v2/job_executions", _message, requests, ADMIN)
        rss = peak_rss_mb(server.process.pid)
        batch = 0.0
        if batches:
            batch = BATCH_SIZE * load(
                server.url, "/v2/job_executions/batch", _batch, batches, ADMIN
            )
    return {"enqueue": single, "rss_mb": rss, "batch": batch}


def fill_ended(url: str, count: int) -> None:
    """``count`` ended executions (success, with output), each with its attempt, by SQL alone."""
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        numbers = f"SELECT generate_series(1, {count}) AS n"
        stamp = "TIMESTAMPTZ '2026-01-01 00:00:00+00'"
        false = "false"
    else:
        numbers = f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count}) SELECT n FROM s"
        stamp = "'2026-01-01 00:00:00.000000'"
        false = "0"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO job_executions (message_id, application, app_id, job, queue, message, "
                "status, runnable, reason, exit_code, output_pending, run_after, started_at, "
                "finished_at, created_at, updated_at) "
                f"SELECT 'old-' || n, 'bench', (SELECT id FROM apps WHERE name = 'bench'), 'noop', "
                f"'default', '{{}}', 'success', {false}, 'exited 0', 0, {false}, {stamp}, {stamp}, "
                f"{stamp}, {stamp}, {stamp} FROM ({numbers}) AS numbers"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO attempts (execution_id, number, message_id, state, run_after, "
                "started_at, finished_at, recorded_at, exit_code, status, reason, stdout, stderr, "
                "output_pending, output_recorded_at, created_at, updated_at) "
                f"SELECT id, 0, message_id, 'ended', {stamp}, {stamp}, {stamp}, {stamp}, 0, "
                f"'success', 'exited 0', 'hello from a job', '', {false}, {stamp}, {stamp}, {stamp} "
                "FROM job_executions WHERE message_id LIKE 'old-%'"
            )
        )
        conn.execute(
            sa.text(
                "UPDATE job_executions SET current_attempt_id = ("
                "SELECT id FROM attempts WHERE attempts.execution_id = job_executions.id"
                ") WHERE message_id LIKE 'old-%'"
            )
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE job_executions"))
            conn.execute(sa.text("VACUUM ANALYZE attempts"))
    else:
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    engine.dispose()


def history_rates(url: str, requests: int, ended: int) -> float:
    """Enqueues a second through ``pitmaster server`` with ``ended`` old executions stored."""
    with pitmaster("server", url) as server:
        server.define("bench", "noop", ["true"])
        say(f"storing {ended:,} ended executions")
        fill_ended(url, ended)
        load(server.url, "/v2/job_executions", _message, requests // 10, ADMIN)  # warm up
        return load(server.url, "/v2/job_executions", _message, requests, ADMIN)


def run(admin_url: str, directory: Path, quick: bool) -> dict[str, dict[str, float]]:
    requests = 800 if quick else 4000
    batches = 8 if quick else 40
    ended = 100_000 if quick else 1_000_000
    results: dict[str, dict[str, float]] = {}
    for kind in ("sqlite", "postgresql"):
        say(f"HTTP enqueue, {kind}: bare FastAPI endpoint, {requests} requests")
        with database(kind, admin_url, directory) as url:
            bare = bare_rate(url, requests)
        say(f"HTTP enqueue, {kind}: pitmaster server, {requests} requests, {batches} batches")
        with database(kind, admin_url, directory) as url:
            ours = pitmaster_rates(url, requests, batches)
        say(f"HTTP enqueue, {kind}: pitmaster server with {ended:,} ended executions")
        with database(kind, admin_url, directory) as url:
            history = history_rates(url, requests, ended)
        results[kind] = {"bare": bare, **ours, "history": history, "ended": float(ended)}
    return results
