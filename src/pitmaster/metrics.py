"""Prometheus metrics: what this process observed, and what the database holds now.

Each process builds one ``Metrics`` with a registry of its own (no global
state). Counters and histograms are what this process did (a worker's claims,
the endings it recorded); ``StoreCollector`` reads the queue's state from the
database at each scrape, so any server reports the whole system's backlog.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pitmaster.models import Outcome
from pitmaster.retry import ending_of
from pitmaster.store.store import Store

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_RUN_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 12 * 3600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.claims = Counter(
            "pitmaster_claims",
            "Executions claimed by this worker's runners",
            registry=self.registry,
        )
        self.engine_errors = Counter(
            "pitmaster_docker_api_errors",
            "Calls to the Docker engine that failed, by the part of the worker that made them",
            ["component"],
            registry=self.registry,
        )
        self.loop_errors = Counter(
            "pitmaster_worker_loop_errors",
            "Unexpected failures of a worker loop, by loop; the loop backs off and runs again",
            ["loop"],
            registry=self.registry,
        )
        self.endings = Counter(
            "pitmaster_endings",
            "Attempt endings recorded by this process, by status and kind of reason",
            ["status", "reason"],
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "pitmaster_queue_wait_seconds",
            "From when an attempt could run (enqueue, or its retry time) to Docker's start time",
            buckets=_RUN_BUCKETS,
            registry=self.registry,
        )
        self.run_time = Histogram(
            "pitmaster_run_seconds",
            "From Docker's start time to Docker's finish time",
            buckets=_RUN_BUCKETS,
            registry=self.registry,
        )
        self.detection_lag = Histogram(
            "pitmaster_detection_lag_seconds",
            "From Docker's finish time to the ending being recorded",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.notification_deliveries = Counter(
            "pitmaster_notification_deliveries",
            "Notification delivery tries by this process, by outcome: delivered, "
            "retrying (the receiver failed; tried again later) or expired (given up)",
            ["outcome"],
            registry=self.registry,
        )
        self.notification_latency = Histogram(
            "pitmaster_notification_latency_seconds",
            "From a notification being written (the ending recorded) to its delivery",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe_ending(self, outcome: Outcome, started_at_seconds: float | None) -> None:
        ending = ending_of(outcome.status, outcome.reason)
        self.endings.labels(
            outcome.status.value, ending.value if ending else outcome.status.value
        ).inc()
        if outcome.finished_at is not None and started_at_seconds is not None:
            self.run_time.observe(max(0.0, outcome.finished_at.timestamp() - started_at_seconds))

    def watch_store(self, store: Store) -> None:
        self.registry.register(StoreCollector(store))


class StoreCollector(Collector):
    """The backlog as the database has it, read at each scrape."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        snapshot = self._store.backlog()
        pending_queue = GaugeMetricFamily(
            "pitmaster_pending_by_queue", "Executions waiting to start", labels=["queue"]
        )
        running_queue = GaugeMetricFamily(
            "pitmaster_running_by_queue", "Attempts claimed or running", labels=["queue"]
        )
        pending_app = GaugeMetricFamily(
            "pitmaster_pending_by_app", "Executions waiting to start", labels=["app"]
        )
        running_app = GaugeMetricFamily(
            "pitmaster_running_by_app", "Attempts claimed or running", labels=["app"]
        )
        oldest = GaugeMetricFamily(
            "pitmaster_oldest_pending_seconds",
            "Age of the oldest execution that could start and has not",
            labels=["queue"],
        )
        for queue, count in snapshot.pending_by_queue.items():
            pending_queue.add_metric([queue], count)
        for queue, count in snapshot.running_by_queue.items():
            running_queue.add_metric([queue], count)
        for app, count in snapshot.pending_by_app.items():
            pending_app.add_metric([app], count)
        for app, count in snapshot.running_by_app.items():
            running_app.add_metric([app], count)
        for queue, age in snapshot.oldest_pending_seconds.items():
            oldest.add_metric([queue], age)
        yield from (pending_queue, running_queue, pending_app, running_app, oldest)
        notifications = GaugeMetricFamily(
            "pitmaster_notifications",
            "Notifications in the outbox, by delivery state",
            labels=["state"],
        )
        for state, count in self._store.notifications.count_by_state().items():
            notifications.add_metric([state], count)
        yield notifications
