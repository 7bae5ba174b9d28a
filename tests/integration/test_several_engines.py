"""Two real Docker engines sharing one database: no job run twice, none lost, nothing left behind.

Engine A is the machine's engine; engine B is a second, independent dockerd
(``scripts/ensure-second-docker.sh``) with no bridge network, so jobs here run
with network "none". Tests that restart engine B share one xdist group.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from pitmaster.cli.exits import ExitCode
from pitmaster.executors.docker import ENGINE_IDENTITY_LABEL, ENGINE_IDENTITY_VOLUME
from pitmaster.models import Execution, Status
from pitmaster.store.store import Store

from ..containers import EventCounter
from ..processes import Deployment
from ..relays import DockerRelay
from ..waiting import wait_for
from .conftest import WorkerFactory, engine_host, installation_label, wait_until_ended

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("second_engine")]

SECOND_SOCKET = "/var/run/docker-h2.sock"


@pytest.fixture
def engine_b(second_engine: str, docker_store: Store) -> Iterator[docker.DockerClient]:
    """A client of engine B; every container this test's installation made there is removed."""
    client = docker.DockerClient(base_url=second_engine)
    yield client
    _remove_all(client, docker_store)
    client.close()


def _remove_all(client: docker.DockerClient, store: Store) -> None:
    for container in client.containers.list(
        all=True, sparse=True, filters={"label": installation_label(store)}
    ):
        container.remove(force=True)


def _containers(client: docker.DockerClient, store: Store) -> list[str]:
    # sparse: a plain listing, which does not race the removal of what it lists
    listed = client.containers.list(
        all=True, sparse=True, filters={"label": installation_label(store)}
    )
    return [container.id for container in listed if container.id is not None]


@pytest.fixture
def count_creations() -> Iterator[Callable[[docker.DockerClient, Store], EventCounter]]:
    """Count the containers an engine creates for a store's attempts, from now; stopped after."""
    counters: list[EventCounter] = []

    def count(client: docker.DockerClient, store: Store) -> EventCounter:
        counters.append(EventCounter(client, installation_label(store), "create"))
        return counters[-1]

    yield count
    for counter in counters:
        counter.close()


def _define(store: Store, job: str, script: str) -> None:
    store.create_job_definition("demo", job, ["sh", "-c", script], network="none")


def _ended_all(store: Store, executions: list[Execution], timeout: float = 90) -> list[Execution]:
    return [wait_until_ended(store, e.message_id, timeout) for e in executions]


def _is_start(data: bytes) -> bool:
    first_line = data.split(b"\r\n", 1)[0]
    return (
        first_line.startswith(b"POST ")
        and b"/containers/" in first_line
        and (first_line.split(b" ")[1].split(b"?")[0].endswith(b"/start"))
    )


def test_given_two_engines_with_a_worker_each_then_40_jobs_run_exactly_once_on_both(
    docker_store: Store,
    start_worker: WorkerFactory,
    docker_client: docker.DockerClient,
    engine_b: docker.DockerClient,
    second_engine: str,
    count_creations: Callable[[docker.DockerClient, Store], EventCounter],
) -> None:
    # Given one worker on each engine, sharing the database,
    _define(docker_store, "quick", 'echo "$BARBEQUE_MESSAGE"')
    created_on_a = count_creations(docker_client, docker_store)
    created_on_b = count_creations(engine_b, docker_store)
    start_worker(runner_threads=4)
    start_worker(runner_threads=4, docker_host=second_engine, worker_id="worker-b")

    # When 40 jobs are enqueued,
    executions = [docker_store.enqueue("demo", "quick", "default", {"n": n}) for n in range(40)]
    ended = _ended_all(docker_store, executions)

    # then each succeeded once, with one container ever created for it, on one engine,
    assert [e.status for e in ended] == [Status.SUCCESS] * 40
    attempts = [a for e in ended for a in docker_store.attempts_of(e.id)]
    assert len(attempts) == 40
    assert {a.stdout for a in attempts} == {f'{{"n": {n}}}\n' for n in range(40)}
    wait_for(
        lambda: created_on_a.total(0, 0) + created_on_b.total(0, 0) >= 40,
        timeout=10,
        what="40 containers created on the two engines",
    )
    on_a, on_b = created_on_a.by_attempt(0, 0), created_on_b.by_attempt(0, 0)
    assert not set(on_a) & set(on_b)
    assert sorted((on_a + on_b).values()) == [1] * 40
    assert sorted(on_a + on_b) == sorted(str(a.id) for a in attempts)
    # work landed on both engines, and each attempt records the engine it ran on;
    assert on_a and on_b
    engines = {a.engine_id for a in attempts}
    assert len(engines) == 2
    # and nothing is left behind on either engine.
    wait_for(
        lambda: not _containers(docker_client, docker_store),
        timeout=30,
        what="engine A's containers to be removed",
    )
    wait_for(
        lambda: not _containers(engine_b, docker_store),
        timeout=30,
        what="engine B's containers to be removed",
    )


@pytest.mark.parametrize("worker_b_returns", [True, False], ids=["b-returns", "b-never-returns"])
def test_given_worker_b_killed_after_creating_containers_then_no_attempt_runs_twice(
    worker_b_returns: bool,
    tmp_path: Path,
    docker_store: Store,
    deployment: Deployment,
    start_worker: WorkerFactory,
    docker_client: docker.DockerClient,
    engine_b: docker.DockerClient,
    second_engine: str,
    count_creations: Callable[[docker.DockerClient, Store], EventCounter],
) -> None:
    _define(docker_store, "slow", "sleep 1; echo ran")
    _define(docker_store, "quick", "echo quick")
    created_on_a = count_creations(docker_client, docker_store)
    created_on_b = count_creations(engine_b, docker_store)
    # Given worker B, whose engine starts each container but whose answer never comes back,
    relay = DockerRelay(tmp_path / "b.sock", upstream=SECOND_SOCKET, hold=_is_start)
    relay.start()
    b_env = {
        "PITMASTER_WORKER_ID": "worker-b",
        "PITMASTER_RUNNER_THREADS": "4",
        "PITMASTER_LEASE_SECONDS": "2",
        "PITMASTER_HEARTBEAT_INTERVAL": "0.5",
    }
    worker_b = deployment.start("worker", env={**b_env, "PITMASTER_DOCKER_HOST": relay.url})
    b_jobs = [docker_store.enqueue("demo", "slow", "default", {"b": n}) for n in range(4)]
    wait_for(
        lambda: relay.held == 4 and len(_containers(engine_b, docker_store)) == 4,
        timeout=60,
        what="worker B to create its four containers",
    )

    # When worker B is killed before storing them as running,
    worker_b.send_signal(signal.SIGKILL)
    worker_b.wait()
    relay.stop()
    # and its leases run out while worker A (engine A) is busy claiming,
    silent_after = 60.0 if worker_b_returns else 2.0
    start_worker(runner_threads=4, engine_silent_after=silent_after, heartbeat_interval=0.5)
    if worker_b_returns:

        def leases_ran_out() -> bool:
            reasons = [_pending_reason(docker_store, e) for e in b_jobs]
            return all(r is not None and "did not start it" in r for r in reasons)

        wait_for(leases_ran_out, timeout=30)
        a_jobs = [docker_store.enqueue("demo", "quick", "default", {"a": n}) for n in range(8)]
        assert {e.status for e in _ended_all(docker_store, a_jobs)} == {Status.SUCCESS}
        # then engine A took none of engine B's claims, although they were older.
        for execution in b_jobs:
            [attempt] = docker_store.attempts_of(execution.id)
            assert attempt.container_id is None
            assert docker_store.get_execution(execution.message_id).status is Status.PENDING

        # When worker B comes back (on its engine, directly),
        deployment.start("worker", env={**b_env, "PITMASTER_DOCKER_HOST": second_engine})

        # then it adopts each container and records it once, with its real output.
        for ended in _ended_all(docker_store, b_jobs):
            assert ended.status is Status.SUCCESS
            [attempt] = docker_store.attempts_of(ended.id)
            assert attempt.stdout == "ran\n"
    else:
        # When worker B never comes back, its attempts end in error once engine B is silent long enough,
        for ended in _ended_all(docker_store, b_jobs, timeout=60):
            assert ended.status is Status.ERROR
            assert ended.reason is not None
            assert "unreachable: no worker reached it" in ended.reason
        # and when a worker of engine B starts later, it removes the containers left there.
        deployment.start(
            "worker",
            env={
                **b_env,
                "PITMASTER_DOCKER_HOST": second_engine,
                "PITMASTER_ENGINE_SILENT_AFTER": str(silent_after),
            },
        )
        wait_for(
            lambda: not _containers(engine_b, docker_store),
            timeout=60,
            what="engine B's containers to be removed",
        )
        for execution in b_jobs:
            assert docker_store.get_execution(execution.message_id).status is Status.ERROR

    # No attempt ever had a second container, on either engine, and nothing is left behind.
    on_a = created_on_a.by_attempt(0)
    on_b = created_on_b.by_attempt(4)
    b_attempts = {str(a.id) for e in b_jobs for a in docker_store.attempts_of(e.id)}
    assert not b_attempts & set(on_a)
    assert [on_b[attempt] for attempt in sorted(b_attempts)] == [1, 1, 1, 1]
    wait_for(
        lambda: not _containers(engine_b, docker_store),
        timeout=30,
        what="engine B's containers to be removed",
    )
    wait_for(
        lambda: not _containers(docker_client, docker_store),
        timeout=30,
        what="engine A's containers to be removed",
    )


def _pending_reason(store: Store, execution: Execution) -> str | None:
    return store.pending_reason(store.get_execution(execution.message_id), None, 3.0)


def test_given_two_engines_with_the_same_docker_id_then_nothing_is_recorded_lost(
    docker_store: Store,
    start_worker: WorkerFactory,
    docker_client: docker.DockerClient,
    engine_b: docker.DockerClient,
) -> None:
    # Given engine B restarted with engine A's Docker ID, as on a host cloned from A's image,
    host = engine_host(restart=True, same_id=True)
    try:
        assert engine_b.info()["ID"] == docker_client.info()["ID"]
        _define(docker_store, "work", "sleep 1; echo done")
        start_worker(runner_threads=4)
        start_worker(runner_threads=4, docker_host=host, worker_id="worker-b")

        # When 16 jobs run on the two engines,
        executions = [docker_store.enqueue("demo", "work", "default", {"n": n}) for n in range(16)]
        ended = _ended_all(docker_store, executions)

        # then every one succeeded (none recorded lost), on both engines, and none was left behind.
        assert [e.status for e in ended] == [Status.SUCCESS] * 16
        hosts = {a.engine_id for e in ended for a in docker_store.attempts_of(e.id)}
        assert len(hosts) == 2
        wait_for(
            lambda: not _containers(engine_b, docker_store),
            timeout=30,
            what="engine B's containers to be removed",
        )
        wait_for(
            lambda: not _containers(docker_client, docker_store),
            timeout=30,
            what="engine A's containers to be removed",
        )
    finally:
        _remove_all(engine_b, docker_store)
        engine_host(restart=True)


def test_given_engine_bs_data_cloned_from_engine_a_then_a_worker_on_b_refuses_to_start(
    docker_store: Store,
    deployment: Deployment,
    start_worker: WorkerFactory,
    docker_client: docker.DockerClient,
    engine_b: docker.DockerClient,
    second_engine: str,
) -> None:
    # Given a worker on engine A, and engine B carrying engine A's identity (a cloned disk),
    worker_a = start_worker(heartbeat_interval=0.5)
    wait_for(worker_a.ready.is_set, timeout=30)  # engine A's identity is made by now
    identity = docker_client.volumes.get(ENGINE_IDENTITY_VOLUME).attrs["Labels"]
    assert identity[ENGINE_IDENTITY_LABEL]
    _forget_identity(engine_b)
    engine_b.volumes.create(ENGINE_IDENTITY_VOLUME, labels=identity)
    try:
        # When a worker starts on engine B,
        worker_b = deployment.start(
            "worker",
            env={"PITMASTER_DOCKER_HOST": second_engine, "PITMASTER_WORKER_ID": "worker-b"},
        )
        # then it refuses to start, naming the cause and what to do.
        assert worker_b.wait(timeout=60) == ExitCode.ENGINE_REFUSED
        log = deployment.log(worker_b)
        assert "runs on another Docker engine" in log
        assert "docker volume rm pitmaster-engine-identity" in log
        # and it claimed nothing and no longer counts as a worker.
        assert "worker-b" not in {w.id for w in docker_store.list_workers()}
    finally:
        _forget_identity(engine_b)


def _forget_identity(engine: docker.DockerClient) -> None:
    """Remove the engine's identity volume, if it has one: the next worker makes a new one."""
    for volume in engine.volumes.list(filters={"name": ENGINE_IDENTITY_VOLUME}):
        volume.remove(force=True)


def test_given_engine_b_stopped_longer_than_the_lease_then_its_jobs_get_their_real_endings(
    docker_store: Store,
    start_worker: WorkerFactory,
    engine_b: docker.DockerClient,
    second_engine: str,
) -> None:
    # Given jobs running on engine B (its worker alone serves their queue) that exit 7 on
    # SIGTERM, and a worker on engine A serving another queue,
    _define(docker_store, "long", 'trap "echo stopped; exit 7" TERM; sleep 60 & wait')
    _define(docker_store, "quick", "echo quick")
    docker_store.create_queue("on-b")
    start_worker(lease_seconds=2, queues="default")
    start_worker(docker_host=second_engine, worker_id="worker-b", lease_seconds=2, queues="on-b")
    b_jobs = [docker_store.enqueue("demo", "long", "on-b", {"n": n}) for n in range(3)]

    def all_running() -> bool:
        return all(
            docker_store.get_execution(e.message_id).status is Status.RUNNING for e in b_jobs
        )

    wait_for(all_running, timeout=60)

    # When engine B stops (its jobs get SIGTERM) for longer than the lease, while A works on,
    stopped_at = time.monotonic()
    engine_host(restart=False, stop=True)
    try:
        a_jobs = [docker_store.enqueue("demo", "quick", "default", {"a": n}) for n in range(4)]
        assert {e.status for e in _ended_all(docker_store, a_jobs)} == {Status.SUCCESS}
        # Nothing to wait for: the test lets three leases run out and checks that nothing happened.
        time.sleep(max(0.0, stopped_at + 3 * 2 - time.monotonic()))
        # then no job of engine B was recorded lost or in error meanwhile (their exits,
        # which engine B reported as it stopped, may be recorded; their output waits for it),
        for execution in b_jobs:
            now = docker_store.get_execution(execution.message_id)
            assert (now.status, now.reason) in ((Status.RUNNING, None), (Status.FAILED, "exited 7"))
    finally:
        engine_host(restart=False)

    # and once it is back, its jobs are recorded with the endings Docker gives them.
    for execution in b_jobs:
        ended = wait_until_ended(docker_store, execution.message_id, timeout=90)
        assert (ended.status, ended.reason) == (Status.FAILED, "exited 7")
        [attempt] = docker_store.attempts_of(ended.id)
        assert attempt.stdout == "stopped\n"
    wait_for(
        lambda: not _containers(engine_b, docker_store),
        timeout=30,
        what="engine B's containers to be removed",
    )
