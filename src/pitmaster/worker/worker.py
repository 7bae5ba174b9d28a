"""The worker process: runners, output readers, a poller and an event watcher, and a clean stop.

Stopping never stops jobs: containers belong to Docker, and whichever worker
runs next observes them to their end.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable

from pitmaster.errors import ExecutorError, PitmasterError
from pitmaster.executors.base import Executor, ExitEvent, ExitStream
from pitmaster.metrics import Metrics
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.worker.doorbell import Doorbell
from pitmaster.worker.exits import ExitBook
from pitmaster.worker.poller import Poller, Settled
from pitmaster.worker.runner import ContainerDefaults, Runner

logger = logging.getLogger(__name__)

# After an engine or database failure a loop waits this long before trying again.
ERROR_BACKOFF_SECONDS = 2.0


class Worker:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        executor: Executor,
        metrics: Metrics | None = None,
    ) -> None:
        self._settings = settings
        self.executor = executor
        self.metrics = metrics or Metrics()
        self._store = store
        self._runner = Runner(
            store,
            executor,
            settings.worker_id,
            settings.lease_seconds,
            queues=settings.served_queues,
            global_limit=settings.max_concurrent_executions,
            metrics=self.metrics,
            on_running=self._on_running,
            container_defaults=ContainerDefaults(
                memory=settings.container_memory,
                pids_limit=settings.container_pids_limit,
                cpu_shares=settings.container_cpu_shares,
                cpus=settings.container_cpus,
                log_max_bytes=settings.container_log_max_bytes,
            ),
            allowed_images=settings.allowed_image_rules,
            secrets_keys=settings.secrets_keys,
        )
        self._poller = Poller(
            store,
            executor,
            settings.log_limit_bytes,
            metrics=self.metrics,
            # An exit younger than this is the watcher's to record (it has the
            # event); the sweep takes over from it only for dropped events.
            leave_fresh_exits=min(settings.poll_interval, 1.0),
        )
        self._exit_book = ExitBook()
        # Endings whose output is still to read: (attempt id, container id).
        self._outputs: queue.Queue[tuple[int, str]] = queue.Queue()
        self._stopping = threading.Event()
        self._doorbell = Doorbell(most_rings=settings.runner_threads)
        self._exit_seen = threading.Event()
        self._threads: list[threading.Thread] = []
        self._exit_stream: ExitStream | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        logger.info("worker %s starting", self._settings.worker_id)
        for number in range(self._settings.runner_threads):
            self._spawn(f"runner-{number}", self._run_loop)
        for number in range(self._settings.runner_threads):
            self._spawn(f"output-{number}", self._output_loop)
        self._spawn("poller", self._poll_loop)
        self._spawn("watcher", self._watch_loop)
        self._spawn("heartbeat", self._heartbeat_loop)
        self._spawn("listener", self._listen)

    def wake(self) -> None:
        """Tell idle runners that work was just enqueued."""
        self._doorbell.ring()

    def stop(self) -> None:
        """Stop claiming and return within about ``shutdown_grace`` seconds; jobs keep running."""
        if self._stopping.is_set():
            return
        logger.info("worker %s stopping; running jobs are left to Docker", self._settings.worker_id)
        self._stopping.set()
        self._doorbell.ring_everyone()
        self._exit_seen.set()
        with self._lock:
            if self._exit_stream is not None:
                self._exit_stream.close()
        deadline = time.monotonic() + self._settings.shutdown_grace
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        try:
            self._store.remove_worker(self._settings.worker_id)
        except PitmasterError as exc:
            logger.warning("could not remove this worker's heartbeat: %s", exc)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        # Daemon threads: a call stuck on a dead engine must not hold the process.
        thread = threading.Thread(target=target, name=f"pitmaster-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = self._runner.run_once()
            except PitmasterError as exc:
                self._count_engine_error(exc, "runner")
                logger.warning("runner: %s; retrying in %.0f s", exc, ERROR_BACKOFF_SECONDS)
                self._stopping.wait(ERROR_BACKOFF_SECONDS)
                continue
            if claimed:
                self._doorbell.ring()  # there may be more: let another runner look too
            else:
                self._doorbell.wait(self._settings.poll_interval)

    def _on_running(self, handle: str) -> None:
        event = self._exit_book.exited_early(handle)
        if event is not None:
            self._on_exit(event)

    def _settle(self, event: ExitEvent) -> None:
        """Record the attempt of a container that just exited, without a full sweep."""
        attempt = self._exit_book.attempt_for(event, self._store.running_attempt)
        if attempt is None:
            return
        settled = self._poller.settle(attempt, event)
        if settled is not Settled.NOT_RECORDED:
            self._doorbell.ring()  # a slot was freed: limited work may start
        if settled is Settled.OUTPUT_PENDING:
            # Reading output waits on the engine; the next exit must not wait behind it.
            self._outputs.put((attempt.attempt_id, attempt.container_id))

    def _output_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                attempt_id, container_id = self._outputs.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._poller.collect_output(attempt_id, container_id)
            except PitmasterError as exc:  # what is left is the next sweep's to collect
                self._count_engine_error(exc, "watcher")
                logger.warning("reading output of %s: %s", container_id[:12], exc)

    def _poll_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._poller.sweep():
                    self._doorbell.ring()  # slots were freed: limited work may start
            except PitmasterError as exc:
                self._count_engine_error(exc, "poller")
                logger.warning("poller: %s; retrying in %.0f s", exc, ERROR_BACKOFF_SECONDS)
                self._stopping.wait(ERROR_BACKOFF_SECONDS)
                continue
            self._exit_seen.wait(self._settings.poll_interval)
            self._exit_seen.clear()

    def _count_engine_error(self, exc: PitmasterError, component: str) -> None:
        if isinstance(exc, ExecutorError):
            self.metrics.engine_errors.labels(component).inc()

    def _heartbeat_loop(self) -> None:
        settings = self._settings
        while not self._stopping.is_set():
            try:
                engine: str | None = self.executor.engine_id()
            except PitmasterError:
                engine = None
            try:
                self._store.heartbeat(
                    settings.worker_id, socket.gethostname(), engine, settings.served_queues
                )
            except PitmasterError as exc:
                logger.warning("heartbeat: %s", exc)
            self._stopping.wait(settings.heartbeat_interval)

    def _listen(self) -> None:
        self._store.listen_for_work(self.wake, self._stopping)

    def _on_exit(self, event: ExitEvent) -> None:
        try:
            self._settle(event)
        except PitmasterError as exc:
            self._count_engine_error(exc, "watcher")
            logger.warning("watcher: %s; leaving it to the sweep", exc)
            self._exit_seen.set()

    def _watch_loop(self) -> None:
        """Record each container the moment it exits; the periodic sweep stays the safety net."""
        while not self._stopping.is_set():
            try:
                stream = self.executor.exits()
                with self._lock:
                    if self._stopping.is_set():
                        stream.close()
                        return
                    self._exit_stream = stream
                self._exit_seen.set()  # exits missed while not following: sweep now
                for event in stream:
                    self._on_exit(event)
            except PitmasterError as exc:
                logger.warning("watcher: %s; retrying in %.0f s", exc, ERROR_BACKOFF_SECONDS)
            except Exception:  # the stream breaks when closed or when the engine goes away
                if self._stopping.is_set():
                    return
                logger.warning("watcher: event stream broke; reconnecting", exc_info=True)
            self._stopping.wait(ERROR_BACKOFF_SECONDS)
