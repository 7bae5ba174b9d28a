"""Workers may die at any instant; no job is lost or run twice. Real containers, both databases."""

from __future__ import annotations

import logging
import signal
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from functools import partial
from pathlib import Path

import docker
import pytest
from sqlalchemy.engine import make_url

from pitmaster.executors.docker import DockerExecutor, parse_docker_time
from pitmaster.models import Execution, Status, container_name
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.worker.worker import Worker

from ..containers import EventCounter, labelled
from ..processes import Deployment, free_port
from ..relays import DockerRelay, TcpRelay
from ..waiting import wait_for
from .conftest import WorkerFactory, installation_label, wait_until_ended

pytestmark = pytest.mark.docker


# A job that runs until the test releases it: no race between a job's length and the test.
RELEASE = "while [ ! -e /tmp/release ]; do sleep 0.1; done"


def _release_all(client: docker.DockerClient, label: str) -> None:
    """Let every running job carrying ``label`` end (see ``RELEASE``)."""
    for container in labelled(client, label):
        if container.attrs["State"] == "running":
            assert container.exec_run(["touch", "/tmp/release"]).exit_code == 0


def all_have_status(store: Store, message_ids: Collection[str], status: Status) -> bool:
    return all(store.get_execution(m).status is status for m in message_ids)


def all_ended(store: Store, message_ids: Collection[str]) -> bool:
    """Every one has ended, and its output is stored."""
    executions = [store.get_execution(m) for m in message_ids]
    return all(e.status.is_terminal and not e.output_pending for e in executions)


@pytest.fixture
def count_starts(docker_client: docker.DockerClient) -> Iterator[Callable[[str], EventCounter]]:
    """Start counting the starts of containers with a label from now; stopped at teardown."""
    counters: list[EventCounter] = []

    def count(label: str) -> EventCounter:
        counters.append(EventCounter(docker_client, label, "start"))
        return counters[-1]

    yield count
    for counter in counters:
        counter.close()


@pytest.mark.xdist_group("engine-heavy")
def test_given_20_running_jobs_when_their_worker_is_killed_then_a_new_worker_records_each_once(
    docker_store: Store,
    deployment: Deployment,
    docker_client: docker.DockerClient,
    count_starts: Callable[[str], EventCounter],
) -> None:
    docker_store.create_job_definition(
        "demo",
        "sleep-exit",
        ["sh", "-c", f"{RELEASE}; exit $(( BARBEQUE_MESSAGE % 4 ))"],
    )
    starts = count_starts(installation_label(docker_store))
    executions = [docker_store.enqueue("demo", "sleep-exit", "default", n) for n in range(20)]
    ids = [execution.message_id for execution in executions]
    first = deployment.start("worker", env={"PITMASTER_RUNNER_THREADS": "4"})
    wait_for(
        lambda: all_have_status(docker_store, ids, Status.RUNNING),
        timeout=60,
        what="every job to run",
    )

    # When the worker is killed outright while all 20 run, and they all finish meanwhile,
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    label = installation_label(docker_store)
    containers = docker_client.containers.list(all=True, filters={"label": label})
    assert len(containers) == 20
    docker_finished = {}
    for container in containers:
        assert container.exec_run(["touch", "/tmp/release"]).exit_code == 0
    for container in containers:
        container.wait(timeout=60)
        container.reload()
        message_id = container.labels["pitmaster.execution"]
        docker_finished[message_id] = parse_docker_time(container.attrs["State"]["FinishedAt"])
    assert all_have_status(docker_store, ids, Status.RUNNING)

    # Then a new worker records every one exactly once, as Docker saw it end.
    deployment.start("worker")
    wait_for(lambda: all_ended(docker_store, ids), timeout=60, what="every job to end")
    for number, message_id in enumerate(ids):
        execution = docker_store.get_execution(message_id)
        assert execution.exit_code == number % 4
        assert execution.status is (Status.SUCCESS if number % 4 == 0 else Status.FAILED)
        assert execution.finished_at == docker_finished[message_id]
        assert len(docker_store.attempts_of(execution.id)) == 1
    assert starts.total(20) == 20


@pytest.mark.parametrize("started", [False, True], ids=["created", "started"])
def test_given_a_worker_died_after_making_the_container_when_another_runs_then_it_is_adopted(
    started: bool,
    docker_store: Store,
    start_worker: WorkerFactory,
    docker_client: docker.DockerClient,
    count_starts: Callable[[str], EventCounter],
) -> None:
    docker_store.create_job_definition("demo", "once", ["sh", "-c", "echo ran"])
    starts = count_starts(installation_label(docker_store))
    execution = docker_store.enqueue("demo", "once", "default", None)
    # A worker claims, creates (and maybe starts) the container, then dies before storing its id.
    claim = docker_store.claim("dead-worker", lease_seconds=1)
    assert claim is not None
    label = installation_label(docker_store)
    container = docker_client.containers.create(
        "pitmaster-demo:latest",
        ["sh", "-c", "echo ran"],
        name=container_name(docker_store.installation_id(), claim.attempt_id),
        labels={
            "pitmaster.installation": docker_store.installation_id(),
            "pitmaster.attempt": str(claim.attempt_id),
            "pitmaster.execution": execution.message_id,
        },
    )
    if started:
        container.start()

    start_worker()
    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.SUCCESS
    [attempt] = docker_store.attempts_of(execution.id)
    assert attempt.id == claim.attempt_id
    assert attempt.stdout == "ran\n"
    # The container the dead worker made is the one that ran, and it is gone now:
    # no other container was made for the attempt, and none is left behind.
    assert attempt.container_id == container.id
    assert starts.total(1) == 1
    wait_for(
        lambda: labelled(docker_client, label) == [],
        timeout=30,
        what="every container to be removed",
    )


def test_given_a_worker_died_after_claiming_when_its_lease_ends_then_the_job_runs_once(
    docker_store: Store,
    start_worker: WorkerFactory,
    docker_client: docker.DockerClient,
    count_starts: Callable[[str], EventCounter],
) -> None:
    docker_store.create_job_definition("demo", "once", ["sh", "-c", "echo ran"])
    starts = count_starts(installation_label(docker_store))
    execution = docker_store.enqueue("demo", "once", "default", None)
    claim = docker_store.claim("dead-worker", lease_seconds=2)
    assert claim is not None

    start_worker()
    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.SUCCESS
    [attempt] = docker_store.attempts_of(execution.id)
    assert attempt.id == claim.attempt_id
    assert attempt.started_at is not None and attempt.started_at >= claim.execution.created_at
    assert starts.total(1) == 1


def test_given_a_container_removed_from_outside_when_swept_then_lost_and_its_slot_is_freed(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    docker_store.update_app("demo", {"max_concurrent_executions": 1})
    docker_store.create_job_definition("demo", "sleepy", ["sleep", "60"])
    pair = [docker_store.enqueue("demo", "sleepy", "default", None) for _ in range(2)]
    start_worker(poll_interval=0.5)
    # Two runners race for the two; SKIP LOCKED does not promise which wins the one slot.
    wait_for(
        lambda: any(
            docker_store.get_execution(e.message_id).status is Status.RUNNING for e in pair
        ),
        timeout=30,
        what="one of the two jobs to run",
    )
    first, second = sorted(
        pair, key=lambda e: docker_store.get_execution(e.message_id).status is not Status.RUNNING
    )
    waiting = docker_store.get_execution(second.message_id)
    assert docker_store.pending_reason(waiting, None, 30) == "app 'demo' is at its limit of 1"
    [attempt] = docker_store.attempts_of(first.id)
    assert attempt.container_id is not None

    docker_client.containers.get(attempt.container_id).remove(force=True)

    # Only a sweep records it: nothing else would before engine_silent_after (600 s).
    ended = wait_until_ended(docker_store, first.message_id)
    assert (ended.status, ended.reason) == (Status.ERROR, "lost")
    wait_for(
        lambda: docker_store.get_execution(second.message_id).status is Status.RUNNING,
        timeout=30,
        what="the second job to take the freed slot",
    )


def test_given_the_engine_unreachable_while_jobs_end_when_it_returns_then_the_worker_resumes_and_nothing_failed(
    docker_store: Store,
    worker_settings: Settings,
    docker_client: docker.DockerClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    docker_store.create_job_definition("demo", "held", ["sh", "-c", f"{RELEASE}; echo rested"])
    docker_store.create_job_definition("demo", "nap", ["sh", "-c", "echo rested"])
    relay = DockerRelay(tmp_path / "docker.sock")
    relay.start()
    executor = DockerExecutor(relay.url)
    worker = Worker(worker_settings, docker_store, executor)
    caplog.set_level(logging.WARNING)
    try:
        worker.start()
        running = [
            docker_store.enqueue("demo", "held", "default", None).message_id for _ in range(3)
        ]
        wait_for(
            lambda: all_have_status(docker_store, running, Status.RUNNING),
            timeout=30,
            what="the held jobs to run",
        )

        # When the engine is out of reach while those jobs end and more arrive,
        relay.cut()
        _release_all(docker_client, installation_label(docker_store))
        waiting = [
            docker_store.enqueue("demo", "nap", "default", None).message_id for _ in range(2)
        ]
        outage_over = threading.Event()
        statuses_seen: set[Status] = set()

        def watch() -> None:
            while not outage_over.wait(0.2):
                statuses_seen.update(
                    docker_store.get_execution(m).status for m in running + waiting
                )

        watcher = threading.Thread(target=watch)
        watcher.start()
        # The outage lasts until the jobs have ended on the engine, and both the
        # sweeps and the starts of the new work have failed on the way to it.
        try:
            label = installation_label(docker_store)
            wait_for(
                lambda: (
                    len(labelled(docker_client, label)) == 3
                    and all(c.attrs["State"] == "exited" for c in labelled(docker_client, label))
                ),
                timeout=60,
                what="the three held jobs to exit",
            )
            for loop in ("poller", "runner"):
                wait_for(
                    partial(_logged, caplog, f"{loop}: Docker engine"),
                    timeout=30,
                    what=f"the {loop} to log the outage",
                )
        finally:
            outage_over.set()
            watcher.join()

        # then nothing was marked failed meanwhile, the worker said what happened,
        assert statuses_seen <= {Status.PENDING, Status.RUNNING}

        # and once the engine is back every job is recorded as it really ended.
        relay.restore()
        wait_for(
            lambda: all_ended(docker_store, running + waiting),
            timeout=60,
            what="every job to end after the outage",
        )
        for message_id in running + waiting:
            execution = docker_store.get_execution(message_id)
            assert execution.status is Status.SUCCESS, execution
            [attempt] = docker_store.attempts_of(execution.id)
            assert attempt.stdout == "rested\n"
    finally:
        worker.stop()
        relay.stop()
        executor.close()


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_given_postgresql_out_of_reach_while_jobs_run_then_the_worker_reconnects_and_records_each_once(
    docker_store: Store,
    worker_settings: Settings,
    docker_client: docker.DockerClient,
    backend_url: str,
    caplog: pytest.LogCaptureFixture,
    count_starts: Callable[[str], EventCounter],
) -> None:
    # The worker reaches PostgreSQL through a relay: cutting it is a restart as the
    # worker sees it (every connection dropped, new ones refused), which the other
    # tests running meanwhile on the same server do not see.
    direct = make_url(backend_url)
    relay = TcpRelay(direct.host or "localhost", direct.port or 5432, free_port())
    relay.start()
    relayed = direct.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    worker_store = Store(relayed)
    executor = DockerExecutor()
    worker = Worker(
        worker_settings.model_copy(update={"database_url": relayed}), worker_store, executor
    )
    docker_store.create_job_definition("demo", "held", ["sh", "-c", f"{RELEASE}; echo rested"])
    docker_store.create_job_definition("demo", "nap", ["sh", "-c", "echo rested"])
    label = installation_label(docker_store)
    starts = count_starts(installation_label(docker_store))
    ids = [docker_store.enqueue("demo", "held", "default", None).message_id for _ in range(5)]
    caplog.set_level(logging.WARNING)
    try:
        worker.start()
        wait_for(
            lambda: all_have_status(docker_store, ids, Status.RUNNING),
            timeout=60,
            what="every held job to run",
        )

        # When the database is out of the worker's reach while those jobs end and more arrive,
        relay.cut()
        _release_all(docker_client, label)
        later = [docker_store.enqueue("demo", "nap", "default", None).message_id for _ in range(2)]
        wait_for(
            lambda: (
                len(labelled(docker_client, label)) == 5
                and all(c.attrs["State"] == "exited" for c in labelled(docker_client, label))
            ),
            timeout=60,
            what="the five held jobs to exit",
        )
        wait_for(
            lambda: any("database unavailable" in r.getMessage() for r in caplog.records),
            timeout=30,
            what="the worker to log the database outage",
        )
        relay.restore()

        # Then the worker reconnects and records each ending once, and runs the later work.
        wait_for(
            lambda: all_ended(docker_store, ids + later),
            timeout=90,
            what="every job to end after the outage",
        )
        for message_id in ids + later:
            execution = docker_store.get_execution(message_id)
            assert execution.status is Status.SUCCESS
            assert len(docker_store.attempts_of(execution.id)) == 1
        assert starts.total(7) == 7
    finally:
        worker.stop()
        executor.close()
        worker_store.close()
        relay.stop()


def _logged(caplog: pytest.LogCaptureFixture, start: str) -> bool:
    return any(record.getMessage().startswith(start) for record in caplog.records)


class CountingExecutor(DockerExecutor):
    """The real executor, counting the side effects of recording an ending."""

    removed: list[str]
    lock = threading.Lock()

    def remove(self, handle: str) -> None:
        with self.lock:
            self.removed.append(handle)
        super().remove(handle)


def test_given_two_workers_polling_the_same_jobs_then_each_ending_is_recorded_and_acted_on_once(
    docker_store: Store, worker_settings: object
) -> None:
    from pitmaster.settings import Settings

    assert isinstance(worker_settings, Settings)
    docker_store.create_job_definition("demo", "quick", ["sh", "-c", "sleep 1; echo done"])
    removed: list[str] = []
    workers: list[tuple[Worker, CountingExecutor]] = []
    for name in ("one", "two"):
        executor = CountingExecutor()
        executor.removed = removed
        settings = worker_settings.model_copy(update={"worker_id": name, "poll_interval": 0.05})
        workers.append((Worker(settings, docker_store, executor), executor))
    try:
        for worker, _ in workers:
            worker.start()
        executions: list[Execution] = [
            docker_store.enqueue("demo", "quick", "default", None) for _ in range(10)
        ]
        ids = [execution.message_id for execution in executions]
        # Generous: ten containers and two workers sweeping every 50 ms have taken over
        # a minute on a busy two-core machine.
        wait_for(lambda: all_ended(docker_store, ids), timeout=120, what="every job to end")
    finally:
        for worker, executor in workers:
            worker.stop()
            executor.close()

    handles = [docker_store.attempts_of(e.id)[0].container_id for e in executions]
    assert Counter(removed) == Counter(handles)
    for execution in executions:
        [attempt] = docker_store.attempts_of(execution.id)
        assert attempt.status is Status.SUCCESS and attempt.stdout == "done\n"
