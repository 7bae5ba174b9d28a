"""How fast the console's executions list answers with 100,000 executions on SQLite.

Fills a fresh SQLite file with N executions (bulk INSERT, spread over apps,
jobs, queues and statuses), then times GET /job_executions through the real
ASGI app (FastAPI's TestClient: routing, store query and Jinja rendering, no
network) for the unfiltered first page, filtered pages and a deep cursor page.

    PYTHONPATH=src .venv/bin/python bench/console_executions_list.py [N] [POSTGRES_ADMIN_URL]
        [--realistic]

By default one execution in seven is pending or running (150,000 of 1,000,000,
far more than a live system holds), all enqueued months ago. ``--realistic``
makes history as it grows: the executions spread over the last 30 days up to
now, all ended but the newest 2,000 (pending or running).

With a PostgreSQL URL (``scripts/ensure-postgres.sh`` prints one) it makes a
database of its own there, fills and times it the same way, then drops it.
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

warnings.filterwarnings("ignore", category=DeprecationWarning)

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import text  # noqa: E402

from pitmaster.server.app import create_app  # noqa: E402
from pitmaster.services import tokens  # noqa: E402
from pitmaster.settings import Settings  # noqa: E402
from pitmaster.store.engine import create_engine  # noqa: E402
from pitmaster.store.schema import job_executions  # noqa: E402
from pitmaster.store.store import Store  # noqa: E402

STATUSES = ["success"] * 8 + ["failed", "error", "cancelled", "running", "pending"]
ENDED = [status for status in STATUSES if status not in ("pending", "running")]
LIVE_IN_REALISTIC = 2_000
BUDGET_MS = 200.0


def fill(url: str, count: int, *, realistic: bool = False) -> None:
    store = Store(url)
    store.migrate()
    store.create_queue("mailers")
    for app in ("shop", "blog", "crm"):
        store.create_app(app, "demo:1")
        for job in ("mail", "index", "report"):
            store.create_job_definition(app, job, ["true"])
    store.close()
    engine = create_engine(url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = 7.0
    if realistic:
        step = timedelta(days=30).total_seconds() / count
        start = datetime.now(UTC) - timedelta(days=30)
    rows = []
    for number in range(count):
        created = start + timedelta(seconds=number * step)
        status = STATUSES[number % len(STATUSES)]
        if realistic:
            status = _realistic_status(number, count)
        rows.append(
            {
                "message_id": str(uuid.uuid4()),
                "application": ("shop", "blog", "crm")[number % 3],
                "job": ("mail", "index", "report")[(number // 3) % 3],
                "queue": "default" if number % 4 else "mailers",
                "message": {"n": number},
                "status": status,
                "runnable": status == "pending",
                "reason": None if status in ("pending", "running") else f"{status}",
                "exit_code": 0 if status == "success" else 1,
                "run_after": created,
                "started_at": created,
                "finished_at": created + timedelta(seconds=3),
                "created_at": created,
                "updated_at": created,
            }
        )
    with engine.begin() as conn:
        for offset in range(0, len(rows), 10_000):
            conn.execute(job_executions.insert(), rows[offset : offset + 10_000])
    if engine.dialect.name == "postgresql":
        # Statistics and the visibility map, as autovacuum keeps them on a live database
        # (right after a bulk load it has not run yet, and plans are guesses).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE job_executions"))
    engine.dispose()


def _realistic_status(number: int, count: int) -> str:
    """Ended, in the mix the heavy case has, but for the newest 2,000: pending or running."""
    if number >= count - LIVE_IN_REALISTIC:
        return "pending" if number % 2 else "running"
    return ENDED[number % len(ENDED)]


def log_in(client: TestClient, store: Store) -> None:
    """A console session, through the login form, so pages are timed as users see them."""
    token = tokens.create_token(store, None, "bench")[1]
    login_page = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="(\w+)"', login_page).group(1)  # type: ignore[union-attr]
    answer = client.post("/login", data={"token": token, "csrf_token": csrf, "next": "/"})
    answer.raise_for_status()
    assert "pitmaster_session" in client.cookies


def timed(client: TestClient, path: str, runs: int = 20) -> tuple[float, float]:
    client.get(path)  # warm the page cache and Jinja's template cache
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(samples), max(samples)


@contextmanager
def database(admin_url: str | None) -> Iterator[str]:
    """A fresh database: a SQLite file, or a PostgreSQL database made (and dropped) here."""
    if admin_url is None:
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'bench.db'}"
        return
    name = f"pitmaster_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    realistic = "--realistic" in sys.argv
    arguments = [argument for argument in sys.argv[1:] if argument != "--realistic"]
    count = int(arguments[0]) if arguments else 100_000
    with database(arguments[1] if len(arguments) > 1 else None) as url:
        began = time.perf_counter()
        fill(url, count, realistic=realistic)
        shape = (
            "realistic: all but 2,000 ended" if realistic else "heavy: 1 in 7 pending or running"
        )
        print(f"filled {count} executions ({shape}) in {time.perf_counter() - began:.1f} s")
        time_pages(url, count)


def time_pages(url: str, count: int) -> None:
    """Time every console page of a filled database."""
    store = Store(url)
    client = TestClient(create_app(Settings(database_url=url), store))
    log_in(client, store)
    paths = [
        "/job_executions",
        "/job_executions?status=failed",
        "/job_executions?application=shop&job=mail",
        "/job_executions?queue=mailers",
        "/job_executions?application=crm&status=cancelled",
        f"/job_executions?cursor={count // 20}",
        "/job_executions?status=failed&cursor=5000",
        "/job_executions?range=24h",
        "/job_executions?application=blog&range=7d",
        "/job_executions?message_id=0a",
        "/job_executions?status=pending",
        "/",
        "/apps/shop",
        "/job_queues",
        "/job_queues/default",
        "/monitors",
        "/job_definitions/shop/mail",
    ]
    worst = 0.0
    print(f"{'page':55} {'median ms':>10} {'max ms':>8}")
    for path in paths:
        median, slowest = timed(client, path)
        worst = max(worst, median)
        print(f"{path:55} {median:10.1f} {slowest:8.1f}")
    verdict = "within" if worst < BUDGET_MS else "OVER"
    print(f"slowest median {worst:.1f} ms: {verdict} the {BUDGET_MS:.0f} ms budget")
    store.close()
    client.close()


if __name__ == "__main__":
    main()
