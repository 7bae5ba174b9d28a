"""Claims per second by priority alone and with fair share between apps, and the claim's query plans.

    .venv/bin/python -m bench.claim_order                 # 2,000 and 10,000 waiting
    .venv/bin/python -m bench.claim_order --quick         # 2,000 waiting only
    .venv/bin/python -m bench.claim_order --count 500 --count 4000

Work waits in one queue, spread over several apps and a few priorities; runner
threads claim it all through the product's Runner with a no-op executor
(FakeExecutor), once ordered by priority (and age) only, once with fair share.
Both orders run on the same machine in the same run: compare the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import database, prepare
from pitmaster.errors import StoreError
from pitmaster.models import ClaimOrder
from pitmaster.store.executions import PendingRow, insert_pending
from pitmaster.store.store import Store
from pitmaster.testing import FakeExecutor
from pitmaster.worker.runner import Runner

APPS = 8
PRIORITIES = (0, 0, 0, 5)  # mostly bulk, some urgent
RUNNERS = 4
ORDERS = {
    "priority": ClaimOrder(fair_share=False, aging_seconds=3600),
    "fair share": ClaimOrder(fair_share=True, aging_seconds=3600),
}


def _fill(store: Store, count: int) -> None:
    """``count`` executions due now, app and priority by turns, in one transaction."""
    apps = [store.create_app(f"app{n}", "img") for n in range(APPS)]
    for app in apps:
        store.create_job_definition(app.name, "noop", ["true"])
    now = store.now()
    with store.writing() as conn:
        for n in range(count):
            app = apps[n % APPS]
            priority = PRIORITIES[n % len(PRIORITIES)]
            insert_pending(
                conn, now, PendingRow(app.name, app.id, "noop", "default", n, now, priority)
            )


def claim_rate(store: Store, count: int, order: ClaimOrder) -> float:
    _fill(store, count)
    executor = FakeExecutor()
    claimed = [0] * RUNNERS

    def claim_all(index: int) -> None:
        runner = Runner(store, executor, f"bench-{index}", 60, claim_order=order)
        while True:
            try:
                if not runner.run_once():
                    return
            except StoreError:  # SQLite busy past its timeout on a loaded host: a worker retries
                continue
            claimed[index] += 1

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(RUNNERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    # A start that failed after its claim (SQLite busy) leaves that one to its lease: not counted.
    assert sum(claimed) >= count * 0.99, (sum(claimed), count)
    return sum(claimed) / elapsed


@contextmanager
def _statements(store: Store) -> Iterator[list[tuple[str, Any]]]:
    """The claim's candidate queries as the database received them."""
    seen: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("SELECT job_executions.id") and "ORDER BY" in statement:
            seen.append((statement, parameters))

    sa.event.listen(store.db.engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        sa.event.remove(store.db.engine, "before_cursor_execute", keep)


def query_plans(store: Store, count: int, order: ClaimOrder) -> list[str]:
    """EXPLAIN of each query one claim makes, with ``count`` executions waiting.

    PostgreSQL's statistics are brought up to date first, as autovacuum would;
    SQLite keeps none unless asked, and is left as it is by default.
    """
    _fill(store, count)
    if store.dialect == "postgresql":
        with store.db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE job_executions")
    with _statements(store) as seen:
        store.claim("plan", 60, order=order, engine="fake-engine")
    plans = []
    explain = "EXPLAIN QUERY PLAN " if store.dialect == "sqlite" else "EXPLAIN "
    with store.db.engine.connect() as conn:
        for statement, parameters in seen:
            rows = conn.exec_driver_sql(explain + statement, parameters).all()
            plans.append("\n".join(str(row[-1]) for row in rows))
    return plans


def run(
    admin_url: str, directory: Path, counts: tuple[int, ...]
) -> dict[tuple[str, int | str, str], Any]:
    results: dict[tuple[str, int | str, str], Any] = {}
    for kind in ("sqlite", "postgresql"):
        for count in counts:
            for name, order in ORDERS.items():
                with database(kind, admin_url, directory) as url:
                    store = Store(url)
                    store.migrate()
                    results[(kind, count, name)] = claim_rate(store, count, order)
                    store.close()
        for name, order in ORDERS.items():
            with database(kind, admin_url, directory) as url:
                store = Store(url)
                store.migrate()
                results[(kind, "plan", name)] = query_plans(store, counts[-1], order)
                store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--count", type=int, action="append", help="executions waiting (repeatable)"
    )
    args = parser.parse_args()
    counts = tuple(args.count) if args.count else (2000,) if args.quick else (2000, 10000)
    admin_url = prepare()
    with tempfile.TemporaryDirectory() as directory:
        results = run(admin_url, Path(directory), counts)
    print("| database | waiting | claims/s by priority | claims/s with fair share | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for (kind, count, name), value in results.items():
        if count == "plan" or name != "priority":
            continue
        fair = results[(kind, count, "fair share")]
        print(f"| {kind} | {count} | {value:.0f} | {fair:.0f} | {fair / value:.2f}× |")
    for (kind, count, name), plans in results.items():
        if count != "plan":
            continue
        print(f"\n{kind}, {name}:")
        for plan in plans:
            print("    " + plan.replace("\n", "\n    "))
            print()


if __name__ == "__main__":
    main()
