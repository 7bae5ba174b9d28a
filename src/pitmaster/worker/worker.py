"""The worker process: runners, output readers, a poller and an event watcher, and a clean stop.

Stopping never stops jobs: containers belong to Docker, and whichever worker
runs next on the same engine observes them to their end. Every loop runs
under a ``Supervisor``: no failure ends a thread, and a loop that keeps
failing makes the worker report itself unhealthy.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from pitmaster.errors import ExecutorError, PitmasterError
from pitmaster.executors.base import Executor, ExitEvent, ExitStream
from pitmaster.metrics import Metrics
from pitmaster.models import ClaimOrder, RunningAttempt
from pitmaster.notification_sender import Sender
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.worker.doorbell import Doorbell
from pitmaster.worker.exits import ExitBook
from pitmaster.worker.identity import EngineIdentityConflict, answer_probes, check_engine_identity
from pitmaster.worker.notifier import Notifier
from pitmaster.worker.poller import Poller, Settled
from pitmaster.worker.runner import ContainerDefaults, Runner
from pitmaster.worker.scheduler import Scheduler
from pitmaster.worker.supervision import Supervisor

logger = logging.getLogger(__name__)

# After the event stream breaks, the watcher waits this long before following it again.
RECONNECT_SECONDS = 2.0
# Probes from starting workers are answered at least this often.
PROBE_ANSWER_SECONDS = 0.5
# Containers left behind, and attempts stranded on silent engines, are looked for this often.
HOUSEKEEPING_SECONDS = 30.0
# Threads delivering notifications: a slow receiver holds up one of them, not the others.
NOTIFIER_THREADS = 2
# How often a worker deletes executions past the retention setting.
RETENTION_SECONDS = 600.0
# Threads beyond the runners and output readers that call the engine: poller,
# watcher (its event stream holds a connection), heartbeat, and the API's reads.
OTHER_ENGINE_THREADS = 4
# After a wake-up, the scheduler waits this long before it looks at schedules again.
SCHEDULER_WAKE_GAP_SECONDS = 0.25


def engine_pool_size(runner_threads: int) -> int:
    """Connections to keep to the engine: one per thread that may call it at once."""
    return 2 * runner_threads + OTHER_ENGINE_THREADS


# A task for an output reader: work that waits on the engine, kept off the watcher's thread.
_Task = Callable[[], None]


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
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self.supervisor = Supervisor(
            self.metrics, self._stopping, settings.unhealthy_after_failures
        )
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
            claim_order=ClaimOrder(settings.fair_share, settings.priority_aging_seconds),
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
        self._notify_bell = threading.Event()
        self._notifier = Notifier(
            store,
            Sender(settings.notification_timeout),
            settings.worker_id,
            lease_seconds=settings.notification_lease_seconds,
            max_age_seconds=settings.notification_max_age,
            public_url=settings.public_url,
            secrets_keys=settings.secrets_keys,
            metrics=self.metrics,
        )
        # Work that waits on the engine (reading output, asking about a SIGKILL).
        self._tasks: queue.Queue[_Task] = queue.Queue()
        self._doorbell = Doorbell(most_rings=settings.runner_threads)
        self._exit_seen = threading.Event()
        self._threads: list[threading.Thread] = []
        self._exit_stream: ExitStream | None = None
        self._lock = threading.Lock()
        self._identity_checked = threading.Event()
        # Set once the engine's identity is checked and the first sweep is done.
        self.ready = threading.Event()
        self.refused: EngineIdentityConflict | None = None  # why it stopped itself, if it did
        self._next_housekeeping = 0.0
        self._scheduler = Scheduler(store)
        # Set when schedules may have changed, so the scheduler looks again before its time.
        self._schedules_changed = threading.Event()
        self._schedule_wait = 0.0
        self._engine_description: str | None = None

    def start(self) -> None:
        """Start the loops and return.

        Runners and the poller wait until the engine's identity is checked
        (``worker/identity.py``); if another engine claims it, the worker stops
        itself and says why in ``refused``.
        """
        logger.info("worker %s starting", self._settings.worker_id)
        self._spawn("heartbeat", self._heartbeat_loop)
        self._spawn("identity", self._identity_loop)
        for number in range(self._settings.runner_threads):
            self._spawn(f"runner-{number}", self._run_loop)
        for number in range(self._settings.runner_threads):
            self._spawn(f"output-{number}", self._task_loop)
        self._spawn("poller", self._poll_loop)
        self._spawn("watcher", self._watch_loop)
        self._spawn("listener", self._listen_loop)
        for number in range(NOTIFIER_THREADS):
            self._spawn(f"notifier-{number}", self._notify_loop)
        if self._settings.retention_days > 0:
            self._spawn("retention", self._retention_loop)

        self._spawn("scheduler", self._schedule_loop)

    @property
    def stopping(self) -> threading.Event:
        """Set once the worker stops, including when it stops itself (``refused``)."""
        return self._stopping

    def wake(self) -> None:
        """Tell idle runners that work was just enqueued, and the scheduler to look again."""
        self._doorbell.ring()
        self._notify_bell.set()  # an ending (which wakes runners too) may have notified
        self._schedules_changed.set()

    def stop(self) -> None:
        """Stop claiming and return within about ``shutdown_grace`` seconds; jobs keep running.

        A second call (while the worker stops itself, say) waits for the first to finish.
        """
        if self._stopping.is_set():
            if threading.current_thread() not in self._threads:
                self._stopped.wait(self._settings.shutdown_grace + 5)
            return
        logger.info("worker %s stopping; running jobs are left to Docker", self._settings.worker_id)
        self._stopping.set()
        self._doorbell.ring_everyone()
        self._exit_seen.set()
        self._notify_bell.set()
        self._schedules_changed.set()
        with self._lock:
            if self._exit_stream is not None:
                self._exit_stream.close()
        deadline = time.monotonic() + self._settings.shutdown_grace
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
        try:
            self._store.remove_worker(self._settings.worker_id)
        except PitmasterError as exc:
            logger.warning("could not remove this worker's heartbeat: %s", exc)
        finally:
            self._stopped.set()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        # Daemon threads: a call stuck on a dead engine must not hold the process.
        thread = threading.Thread(target=target, name=f"pitmaster-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    # -- engine identity ---------------------------------------------------------

    def _identity_loop(self) -> None:
        while not (self._stopping.is_set() or self._identity_checked.is_set() or self.refused):
            self.supervisor.guard("identity", self._check_identity)

    def _check_identity(self) -> None:
        settings = self._settings
        self._heartbeat()  # the peers must know this worker to answer it
        try:
            check_engine_identity(
                self._store,
                self.executor,
                settings.worker_id,
                settings.worker_alive_seconds,
                self._stopping,
                # Long enough for a live peer to answer, and to show it is alive.
                wait_seconds=2 * settings.heartbeat_interval + 1,
            )
        except EngineIdentityConflict as conflict:
            self._refuse(conflict)
            return
        self._identity_checked.set()
        # Runners waiting in _ready() see the event; one ring has the first look at once.
        # (ring_everyone would wake them for good: it is for stopping.)
        self._doorbell.ring()

    def _ready(self) -> bool:
        """Whether this worker may claim and sweep: its engine's identity is checked."""
        return self._identity_checked.wait(self._settings.poll_interval)

    def _refuse(self, conflict: EngineIdentityConflict) -> None:
        """Stop this worker for good: its engine's identity is another engine's too."""
        logger.error("worker %s refuses to run: %s", self._settings.worker_id, conflict)
        self.refused = conflict
        self._spawn("refusal", self.stop)

    # -- runners -------------------------------------------------------------------

    def _run_loop(self) -> None:
        instance = threading.current_thread().name
        while not self._stopping.is_set():
            self.supervisor.guard("runner", self._run_step, instance)

    def _run_step(self) -> None:
        if not self._ready():
            return
        if self._runner.run_once():
            self._doorbell.ring()  # there may be more: let another runner look too
        else:
            self._doorbell.wait(self._settings.poll_interval)

    def _on_running(self, handle: str) -> None:
        event = self._exit_book.exited_early(handle)
        if event is not None:
            self._on_exit(event)

    # -- endings -------------------------------------------------------------------

    def _settle(self, event: ExitEvent) -> None:
        """Record the attempt of a container that just exited, without a full sweep."""
        attempt = self._exit_book.attempt_for(event, self._store.running_attempt)
        if attempt is None:
            return
        settled = self._poller.settle(attempt, event)
        if settled is Settled.ASK_ENGINE:
            # Asking the engine waits on it; the next exit must not wait behind it.
            self._tasks.put(lambda: self._settle_by_asking(attempt))
            return
        if settled is not Settled.NOT_RECORDED:
            self._doorbell.ring()  # a slot was freed: limited work may start
            self._notify_bell.set()
        if settled is Settled.OUTPUT_PENDING:
            attempt_id, container_id = attempt.attempt_id, attempt.container_id
            self._tasks.put(lambda: self._poller.collect_output(attempt_id, container_id))

    def _settle_by_asking(self, attempt: RunningAttempt) -> None:
        if self._poller.settle_by_asking(attempt) is Settled.RECORDED:
            self._doorbell.ring()

    def _task_loop(self) -> None:
        """Run work that waits on the engine; what fails is left to the next sweep."""
        instance = threading.current_thread().name
        while not self._stopping.is_set():
            try:
                task = self._tasks.get(timeout=0.5)
            except queue.Empty:
                continue
            self.supervisor.guard("output", task, instance)

    def _on_exit(self, event: ExitEvent) -> None:
        try:
            self._settle(event)
        except Exception as exc:
            self.supervisor.failed("watcher", exc)
            self._exit_seen.set()  # leave it to the sweep, now

    def _watch_loop(self) -> None:
        """Record each container the moment it exits; the periodic sweep stays the safety net."""
        while not self._stopping.is_set():
            self.supervisor.guard("watcher", self._follow_exits)
            if not self._stopping.is_set():
                self._stopping.wait(RECONNECT_SECONDS)

    def _follow_exits(self) -> None:
        stream = self.executor.exits()
        with self._lock:
            if self._stopping.is_set():
                stream.close()
                return
            self._exit_stream = stream
        self._exit_seen.set()  # exits missed while not following: sweep now
        try:
            for event in stream:
                self._on_exit(event)
        except Exception:  # the stream breaks when closed or when the engine goes away
            if self._stopping.is_set():
                return
            raise
        if not self._stopping.is_set():
            logger.warning("watcher: the engine ended its event stream; following it again")

    # -- the poller ----------------------------------------------------------------

    def _poll_loop(self) -> None:
        while not self._stopping.is_set():
            if self.supervisor.guard("poller", self._poll_step):
                self._exit_seen.wait(self._settings.poll_interval)
                self._exit_seen.clear()

    def _poll_step(self) -> None:
        if not self._ready():  # a clone must not record another engine's attempts
            return
        if self._poller.sweep():
            self._doorbell.ring()  # slots were freed: limited work may start
            self._notify_bell.set()
        self.ready.set()
        if time.monotonic() >= self._next_housekeeping:
            if self._poller.end_stranded(self._settings.engine_silent_after):
                self._doorbell.ring()
            self._poller.remove_left_behind(min(60.0, self._settings.engine_silent_after))
            every = min(HOUSEKEEPING_SECONDS, self._settings.engine_silent_after / 4)
            self._next_housekeeping = time.monotonic() + every

    # -- notifications ---------------------------------------------------------------

    def _notify_loop(self) -> None:
        instance = threading.current_thread().name
        while not self._stopping.is_set():
            tried = 0

            def step() -> None:
                nonlocal tried
                tried = self._notifier.step()

            if self.supervisor.guard("notifier", step, instance) and not tried:
                self._notify_bell.wait(self._settings.notification_interval)
                self._notify_bell.clear()

    # -- retention ---------------------------------------------------------------------

    def _retention_loop(self) -> None:
        while not self._stopping.is_set():
            self.supervisor.guard("retention", self._delete_old_executions)
            self._stopping.wait(RETENTION_SECONDS)

    def _delete_old_executions(self) -> None:
        deleted = self._store.retention.delete_ended(
            timedelta(days=self._settings.retention_days), stop=self._stopping.is_set
        )
        if deleted:
            logger.info(
                "deleted %d executions ended over %g days ago",
                deleted,
                self._settings.retention_days,
            )

    # -- schedules -----------------------------------------------------------------

    def _schedule_loop(self) -> None:
        """Tick schedules as they fall due, sleeping until the next one is."""
        while not self._stopping.is_set():
            if self.supervisor.guard("scheduler", self._schedule_step):
                woken = self._schedules_changed.wait(self._schedule_wait)
                self._schedules_changed.clear()
                if woken:  # every enqueue rings: look once for a burst of them
                    self._stopping.wait(SCHEDULER_WAKE_GAP_SECONDS)

    def _schedule_step(self) -> None:
        if self._scheduler.tick_due():
            self._doorbell.ring()
        self._schedule_wait = self._scheduler.seconds_until_due()

    # -- heartbeat and wake-ups ------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        next_beat = time.monotonic() + self._settings.heartbeat_interval
        while not self._stopping.is_set():
            if time.monotonic() >= next_beat:
                self.supervisor.guard("heartbeat", self._heartbeat)
                next_beat = time.monotonic() + self._settings.heartbeat_interval
            self.supervisor.guard("probes", self._answer_probes)
            self._stopping.wait(min(PROBE_ANSWER_SECONDS, self._settings.heartbeat_interval))

    def _heartbeat(self) -> None:
        """Say this worker is alive, whether it is healthy, and whether its engine answers."""
        settings = self._settings
        engine: str | None = None
        description: str | None = None
        try:
            engine = self.executor.engine_id()
            self.executor.ping()
            # What people know the engine by does not change: ask the engine once.
            if self._engine_description is None:
                self._engine_description = self.executor.describe()
            description = self._engine_description
        except ExecutorError as exc:
            logger.warning("heartbeat: the engine does not answer: %s", exc)
        self._store.heartbeat(
            settings.worker_id,
            socket.gethostname(),
            engine,
            settings.served_queues,
            unhealthy_reason=self.supervisor.unhealthy_reason(),
            engine_description=description,
        )

    def _answer_probes(self) -> None:
        # Answered even while this worker checks its own engine: whether a probe is
        # on this engine is a fact either way, and two workers starting together on
        # one engine would otherwise each wait for the other and both refuse.
        answer_probes(self._store, self.executor, self._settings.worker_id)

    def _listen_loop(self) -> None:
        # SQLite has no notifications (listening returns at once): runners poll instead.
        self.supervisor.guard("listener", self._listen)
        while not self._stopping.is_set() and self._store.dialect == "postgresql":
            self.supervisor.guard("listener", self._listen)

    def _listen(self) -> None:
        self._store.listen_for_work(self.wake, self._stopping)
