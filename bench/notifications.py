"""Notifications: how long from an ending recorded to the receiver having it, and whether a
slow receiver delays the next job's start (it must not: the notifier has its own thread).

    .venv/bin/python -m bench.notifications [--quick]

A real worker runs trivial jobs on the local engine, on SQLite and on PostgreSQL,
with a webhook target pointing at a receiver on 127.0.0.1. Latency is from the
notification's row (written in the ending's transaction) to its arrival. The slow
receiver holds every delivery for ``SLOW_SECONDS``; jobs are run one after another,
and each one's dispatch (enqueue to Docker's start time) is compared with the same
run against a fast receiver.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import IMAGE, database, ms, percentile, prepare
from pitmaster.app_secrets import new_key
from pitmaster.executors.docker import DockerExecutor
from pitmaster.notifications import NotifyOn, TargetKind
from pitmaster.services import notifications
from pitmaster.services.notifications import RuleInput, TargetCreate
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.worker.worker import Worker
from tests.receivers import Receiver

SLOW_SECONDS = 3.0
KINDS = ("sqlite", "postgresql")


def _setup(store: Store, settings: Settings, url: str) -> None:
    store.create_app("bench", IMAGE)
    store.create_job_definition("bench", "noop", ["true"])
    notifications.create_target(
        store, settings, TargetCreate(name="hook", kind=TargetKind.WEBHOOK, url=url)
    )
    rule = RuleInput(target="hook", endings=[NotifyOn.SUCCESS])
    notifications.set_job_rules(store, "bench", "noop", [rule])


def _wait(condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's jobs did not finish in time")
        time.sleep(0.01)


def _run(db_url: str, receiver: Receiver, jobs: int, one_by_one: bool) -> dict[str, list[float]]:
    key = new_key()
    settings = Settings(
        database_url=db_url,
        poll_interval=0.2,
        secrets_key=key,  # type: ignore[arg-type]
        notification_timeout=SLOW_SECONDS * 3,
    )
    store = Store(db_url)
    store.migrate()
    _setup(store, settings, receiver.url)
    executor = DockerExecutor(None)
    worker = Worker(settings, store, executor)
    worker.start()
    message_ids: list[str] = []
    try:
        for _ in range(jobs):
            message_ids.append(store.enqueue("bench", "noop", "default", {}).message_id)
            worker.wake()
            if one_by_one:
                last = message_ids[-1]
                _wait(lambda last=last: store.get_execution(last).status.is_terminal)
        _wait(lambda: all(store.get_execution(m).status.is_terminal for m in message_ids))
        if not one_by_one:
            _wait(lambda: len(receiver.received) >= jobs)
        dispatch = []
        for message_id in message_ids:
            execution = store.get_execution(message_id)
            assert execution.started_at is not None
            dispatch.append((execution.started_at - execution.created_at).total_seconds())
        latency = []
        arrivals = {r.json()["message_id"]: r.at for r in list(receiver.received)}
        for message_id in message_ids:
            if message_id in arrivals:
                [notification] = store.notifications.notifications_of(message_id)
                latency.append(arrivals[message_id] - notification.created_at.timestamp())
        return {"dispatch": dispatch, "latency": latency}
    finally:
        receiver.release.set()  # let a slow receiver's pending answers go
        worker.stop()
        executor.close()
        store.close()


def run(admin_url: str, directory: Path, quick: bool) -> dict[str, dict[str, list[float]]]:
    jobs = 10 if quick else 40
    sequential = 6 if quick else 15
    results: dict[str, dict[str, list[float]]] = {}
    for kind in KINDS:
        with database(kind, admin_url, directory) as url, Receiver().running() as fast:
            results[f"{kind} latency"] = _run(url, fast, jobs, one_by_one=False)
        with database(kind, admin_url, directory) as url, Receiver().running() as fast:
            results[f"{kind} fast"] = _run(url, fast, sequential, one_by_one=True)
        with database(kind, admin_url, directory) as url, Receiver().running() as slow:
            slow.delay_seconds = SLOW_SECONDS
            results[f"{kind} slow"] = _run(url, slow, sequential, one_by_one=True)
    return results


def report(results: dict[str, dict[str, list[float]]]) -> list[str]:
    def p(values: list[float]) -> str:
        if not values:
            return "—"
        return f"{ms(percentile(values, 0.5))} / {ms(percentile(values, 0.99))}"

    lines = [
        "| database | ending recorded → receiver has it, p50 / p99 | notifications |",
        "| --- | --- | --- |",
    ]
    for kind in KINDS:
        latency = results[f"{kind} latency"]["latency"]
        lines.append(f"| {kind} | {p(latency)} | {len(latency)} |")
    lines += [
        "",
        f"Jobs run one after another; each delivery to the slow receiver takes {SLOW_SECONDS:g} s.",
        "",
        "| database | receiver | enqueue → started, p50 / p99 | ratio of p50 to the fast run |",
        "| --- | --- | --- | --- |",
    ]
    for kind in KINDS:
        fast = results[f"{kind} fast"]["dispatch"]
        slow = results[f"{kind} slow"]["dispatch"]
        ratio = percentile(slow, 0.5) / percentile(fast, 0.5)
        lines.append(f"| {kind} | fast | {p(fast)} | 1.00× |")
        lines.append(f"| {kind} | slow ({SLOW_SECONDS:g} s) | {p(slow)} | {ratio:.2f}× |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    admin_url = prepare()
    with tempfile.TemporaryDirectory() as temporary:
        print("\n".join(report(run(admin_url, Path(temporary), args.quick))))


if __name__ == "__main__":
    main()
