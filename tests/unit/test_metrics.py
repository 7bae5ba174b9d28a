"""/metrics: the backlog read from the database, and what this process observed."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from pitmaster.metrics import Metrics
from pitmaster.models import DEFAULT_QUEUE
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.testing import FakeExecutor
from pitmaster.worker.poller import Poller
from pitmaster.worker.runner import Runner
from pitmaster.worker.worker import Worker

from ..waiting import wait_for
from .conftest import serving


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_given_work_waiting_running_and_ended_when_scraped_then_each_is_counted(
    store: Store, settings: Settings
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["send"])
    store.create_queue("bulk")
    for queue in (DEFAULT_QUEUE, DEFAULT_QUEUE, "bulk"):
        store.enqueue("shop", "mail", queue, {})
    metrics = Metrics()
    executor = FakeExecutor()
    runner = Runner(store, executor, "w", 60, metrics=metrics)
    poller = Poller(store, executor, 1024, metrics=metrics)

    # When two are started and one of them fails,
    assert runner.run_once() and runner.run_once()
    first = next(iter(executor.containers))
    executor.finish(first, exit_code=3)
    assert poller.sweep() == 1
    with serving(settings, store, metrics=metrics) as client:
        samples = scrape(client)

    # then the backlog comes from the database and the rest from this process.
    assert samples[("pitmaster_pending_by_queue", (("queue", "bulk"),))] == 1
    assert samples[("pitmaster_running_by_queue", (("queue", DEFAULT_QUEUE),))] == 1
    assert samples[("pitmaster_pending_by_app", (("app", "shop"),))] == 1
    assert samples[("pitmaster_running_by_app", (("app", "shop"),))] == 1
    assert samples[("pitmaster_oldest_pending_seconds", (("queue", "bulk"),))] >= 0
    assert samples[("pitmaster_claims_total", ())] == 2
    assert samples[("pitmaster_endings_total", (("reason", "failed"), ("status", "failed")))] == 1
    assert samples[("pitmaster_queue_wait_seconds_count", ())] == 2
    assert samples[("pitmaster_run_seconds_count", ())] == 1
    assert samples[("pitmaster_detection_lag_seconds_count", ())] == 1


def test_given_an_unreachable_engine_when_the_worker_loops_then_engine_errors_are_counted(
    store: Store, settings: Settings
) -> None:
    executor = FakeExecutor(unreachable=True)
    worker = Worker(settings, store, executor)
    worker.start()
    try:
        registry = worker.metrics.registry
        # Before anything else a worker learns its engine's identity, which fails first.
        labels = {"component": "identity"}
        wait_for(
            lambda: (
                (registry.get_sample_value("pitmaster_docker_api_errors_total", labels) or 0) >= 1
            ),
            timeout=10,
            what="the identity check's failure to be counted",
        )
    finally:
        worker.stop()
