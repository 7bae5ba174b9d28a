"""The queue alone, without Docker: enqueues and claims per second, beside procrastinate and huey.

pitmaster's enqueue is measured through its HTTP API (what clients use) and
through the store (the same library-level call the peers are measured with);
claims go through the product's Runner with a no-op executor (FakeExecutor).
procrastinate runs on the same PostgreSQL, huey's SqliteHuey on SQLite.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.common import ADMIN, database, pitmaster, say
from pitmaster.store.store import Store
from pitmaster.testing import FakeExecutor
from pitmaster.worker.runner import Runner

CLIENTS = 8
RUNNERS = 4


def http_enqueues(url: str, count: int) -> float:
    with pitmaster("server", url) as server:
        server.define("bench", "noop", ["true"])

        def send(_: int) -> None:
            with httpx.Client(base_url=server.url, headers=ADMIN) as client:
                for _ in range(count // CLIENTS):
                    client.post(
                        "/v2/job_executions",
                        json={"application": "bench", "job": "noop", "message": {}},
                    ).raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(send, range(CLIENTS)))
        return (count // CLIENTS * CLIENTS) / (time.perf_counter() - started)


def store_enqueues_and_claims(url: str, count: int) -> tuple[float, float]:
    store = Store(url)
    store.migrate()
    store.create_app("bench", "img")
    store.create_job_definition("bench", "noop", ["true"])
    started = time.perf_counter()
    for _ in range(count):
        store.enqueue("bench", "noop", "default", None)
    enqueues = count / (time.perf_counter() - started)

    executor = FakeExecutor()
    claimed = [0] * RUNNERS

    def claim_all(index: int) -> None:
        runner = Runner(store, executor, f"bench-{index}", 60)
        while runner.run_once():
            claimed[index] += 1

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(RUNNERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claims = sum(claimed) / (time.perf_counter() - started)
    store.close()
    return enqueues, claims


def procrastinate_rates(url: str, count: int) -> tuple[float, float]:
    import procrastinate

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))

    @app.task(name="noop")
    def noop() -> None:
        return None

    async def main() -> tuple[float, float]:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            started = time.perf_counter()
            for _ in range(count):
                await noop.defer_async()
            enqueues = count / (time.perf_counter() - started)
            started = time.perf_counter()
            await app.run_worker_async(
                concurrency=RUNNERS, wait=False, install_signal_handlers=False
            )
            claims = count / (time.perf_counter() - started)
            return enqueues, claims

    return asyncio.run(main())


def huey_rates(directory: Path, count: int) -> tuple[float, float]:
    from huey import SqliteHuey

    huey = SqliteHuey(filename=str(directory / "huey.db"))

    @huey.task()
    def noop() -> None:
        return None

    started = time.perf_counter()
    for _ in range(count):
        noop()
    enqueues = count / (time.perf_counter() - started)
    done = [0] * RUNNERS

    def consume(index: int) -> None:
        while (task := huey.dequeue()) is not None:
            huey.execute(task)
            done[index] += 1

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(RUNNERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return enqueues, sum(done) / (time.perf_counter() - started)


def run(admin_url: str, directory: Path, quick: bool) -> dict[str, object]:
    count = 400 if quick else 2000
    results: dict[str, object] = {}
    for kind in ("sqlite", "postgresql"):
        say(f"the queue alone, {kind}: {count} enqueues and claims, then the peer's")
        with database(kind, admin_url, directory) as url:
            http = http_enqueues(url, count)
        with database(kind, admin_url, directory) as url:
            store_enqueue, claims = store_enqueues_and_claims(url, count)
        with database(kind, admin_url, directory) as url:
            if kind == "postgresql":
                peer = ("procrastinate", *procrastinate_rates(url, count))
            else:
                peer = ("huey SqliteHuey", *huey_rates(directory, count))
        results[kind] = {
            "http_enqueue": http,
            "store_enqueue": store_enqueue,
            "claims": claims,
            "peer": peer,
        }
    return results
