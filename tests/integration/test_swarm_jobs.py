"""Jobs run as services of a real single-node Docker Swarm, on both databases.

The swarm is the second engine (``scripts/ensure-swarm.sh``); the first engine
stays out of swarm mode. The tests of several engines restart and stop the
second engine, so these share their xdist group and never run beside them, and
each test makes sure the swarm is up again first.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import ANY

import docker
import pytest
from pydantic import SecretStr

from pitmaster.app_secrets import SECRETS_PER_APP_MAX, SecretBox, new_key
from pitmaster.executors.base import ContainerState, Observation, RunSpec
from pitmaster.executors.swarm import SwarmExecutor
from pitmaster.models import AttemptState, Execution, Status
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.worker.runner import run_spec
from pitmaster.worker.worker import Worker

from ..databases import ROOT
from ..waiting import wait_for
from .conftest import installation_label, wait_until_ended

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("second_engine")]

SECRET = "sk-swarm-4b0e-pitmaster-secret"
LOCKED_TAG = "swarm-locked"
SwarmWorkerFactory = Callable[..., Worker]
# The SDK's type stubs leave its Swarm calls untyped.
SwarmClient = Any


@pytest.fixture
def swarm_host(docker_client: docker.DockerClient) -> str:
    """The manager of a single-node swarm on the second engine, made again if it was stopped."""
    result = subprocess.run(
        [ROOT / "scripts" / "ensure-swarm.sh"], check=True, capture_output=True, text=True
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def swarm(swarm_host: str, docker_store: Store) -> Iterator[SwarmClient]:
    """A client of the swarm; every service, secret and container of this test's installation is removed."""
    client: SwarmClient = docker.APIClient(base_url=swarm_host, version="auto")
    yield client
    label = installation_label(docker_store)
    for service in client.services(filters={"label": label}):
        with contextlib.suppress(docker.errors.NotFound):
            client.remove_service(service["ID"])
    for secret in client.secrets(filters={"label": label}):
        client.remove_secret(secret["ID"])
    for container in client.containers(all=True, filters={"label": label}):
        with contextlib.suppress(docker.errors.NotFound):
            client.remove_container(container["Id"], force=True)
    client.close()


@pytest.fixture
def start_swarm_worker(
    swarm: SwarmClient, swarm_host: str, docker_store: Store, worker_settings: Settings
) -> Iterator[SwarmWorkerFactory]:
    """Start workers with the Swarm executor; all are stopped at teardown."""
    started: list[tuple[Worker, SwarmExecutor]] = []

    def start(**overrides: object) -> Worker:
        settings = worker_settings.model_copy(
            update={"executor": "swarm", "docker_host": swarm_host} | overrides
        )
        executor = SwarmExecutor(
            swarm_host,
            placement=settings.swarm_placement,
            unplaceable_seconds=settings.swarm_unplaceable_seconds,
        )
        worker = Worker(settings, docker_store, executor)
        worker.start()
        started.append((worker, executor))
        return worker

    yield start
    for worker, executor in started:
        worker.stop()
        executor.close()


def define(store: Store, job: str, script: str, **policy: Any) -> None:
    store.create_job_definition("demo", job, ["sh", "-c", script], **policy)


def nothing_left(swarm: SwarmClient, store: Store) -> bool:
    """No service, secret or task container of this test's installation is left on the swarm."""
    label = installation_label(store)
    return not (
        swarm.services(filters={"label": label})
        or swarm.secrets(filters={"label": label})
        or swarm.containers(all=True, filters={"label": label})
    )


def wait_nothing_left(swarm: SwarmClient, store: Store) -> None:
    wait_for(
        lambda: nothing_left(swarm, store),
        timeout=30,
        what="every service, secret and container to be removed",
    )


def wait_running(store: Store, execution: Execution) -> None:
    def running() -> bool:
        attempts = store.attempts_of(execution.id)
        return bool(attempts) and attempts[-1].state is AttemptState.RUNNING

    wait_for(running, timeout=30, what=f"execution {execution.message_id} to run")


def wait_task_running(swarm: SwarmClient, store: Store, execution: Execution) -> None:
    """Wait until Swarm runs the execution's task: the attempt runs from the service's creation."""
    label = f"pitmaster.execution={execution.message_id}"

    def running() -> bool:
        tasks = swarm.tasks(filters={"label": label})
        return any(task["Status"]["State"] == "running" for task in tasks)

    wait_for(running, timeout=30, what=f"the task of {execution.message_id} to run")


# -- outcomes ------------------------------------------------------------------------------


def test_given_a_job_exiting_0_when_run_on_swarm_then_success_with_output_and_no_service_left(
    docker_store: Store, start_swarm_worker: SwarmWorkerFactory, swarm: SwarmClient
) -> None:
    define(docker_store, "hello", 'echo "hello $BARBEQUE_JOB"; echo "$BARBEQUE_MESSAGE" >&2')
    execution = docker_store.enqueue("demo", "hello", "default", {"n": 1})
    start_swarm_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert (ended.status, ended.exit_code) == (Status.SUCCESS, 0)
    [attempt] = docker_store.attempts_of(ended.id)
    assert (attempt.stdout, attempt.stderr) == ("hello hello\n", '{"n": 1}\n')
    assert attempt.started_at is not None and attempt.finished_at is not None
    assert attempt.started_at <= attempt.finished_at
    assert attempt.container_id is not None and len(attempt.container_id) == 25  # a service id
    wait_nothing_left(swarm, docker_store)


def test_given_a_failing_job_when_run_on_swarm_then_failed_with_its_exit_code(
    docker_store: Store, start_swarm_worker: SwarmWorkerFactory
) -> None:
    define(docker_store, "flaky", "echo to-stdout; echo to-stderr >&2; exit 7")
    execution = docker_store.enqueue("demo", "flaky", "default", None)
    start_swarm_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert (ended.status, ended.reason, ended.exit_code) == (Status.FAILED, "exited 7", 7)
    [attempt] = docker_store.attempts_of(ended.id)
    assert (attempt.stdout, attempt.stderr) == ("to-stdout\n", "to-stderr\n")


def test_given_a_memory_limit_when_a_swarm_job_outgrows_it_then_failed_oom(
    docker_store: Store, start_swarm_worker: SwarmWorkerFactory
) -> None:
    define(docker_store, "hog", "x=a; while true; do x=$x$x; done", memory=16 * 1024**2)
    execution = docker_store.enqueue("demo", "hog", "default", None)
    start_swarm_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert (ended.status, ended.reason, ended.exit_code) == (Status.FAILED, "oom", 137)


def test_given_a_pids_limit_when_a_swarm_job_forks_past_it_then_the_fork_fails(
    docker_store: Store, start_swarm_worker: SwarmWorkerFactory
) -> None:
    define(
        docker_store,
        "forks",
        "for i in $(seq 40); do sleep 5 & done; echo all-forked",
        pids_limit=16,
    )
    execution = docker_store.enqueue("demo", "forks", "default", None)
    start_swarm_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.FAILED
    [attempt] = docker_store.attempts_of(execution.id)
    assert "can't fork" in (attempt.stderr or "")
    assert "all-forked" not in (attempt.stdout or "")


def test_given_a_job_ignoring_sigterm_when_it_times_out_on_swarm_then_sigkilled_after_the_grace(
    docker_store: Store, start_swarm_worker: SwarmWorkerFactory, swarm: SwarmClient
) -> None:
    define(
        docker_store, "stubborn", 'trap "" TERM; sleep 60', timeout_seconds=1, stop_grace_seconds=2
    )
    execution = docker_store.enqueue("demo", "stubborn", "default", None)
    start_swarm_worker()

    ended = wait_until_ended(docker_store, execution.message_id, timeout=45)

    assert (ended.status, ended.reason, ended.exit_code) == (Status.FAILED, "timeout", 137)
    [attempt] = docker_store.attempts_of(execution.id)
    assert attempt.started_at is not None and attempt.finished_at is not None
    # The timeout (1 s) counts from the hand-off to Swarm, before the container's own
    # start; the grace (2 s) from the SIGTERM. Far less than the 60 s it would have slept.
    assert timedelta(seconds=2) <= attempt.finished_at - attempt.started_at < timedelta(seconds=20)
    wait_nothing_left(swarm, docker_store)


def test_given_a_running_swarm_job_when_cancelled_then_it_gets_sigterm_and_is_cancelled(
    docker_store: Store, start_swarm_worker: SwarmWorkerFactory, swarm: SwarmClient
) -> None:
    define(docker_store, "long", 'trap "echo stopping; exit 143" TERM; sleep 60 & wait')
    execution = docker_store.enqueue("demo", "long", "default", None)
    start_swarm_worker()
    wait_running(docker_store, execution)
    wait_task_running(swarm, docker_store, execution)

    docker_store.cancel(execution.message_id)

    ended = wait_until_ended(docker_store, execution.message_id, timeout=45)
    assert (ended.status, ended.reason, ended.exit_code) == (Status.CANCELLED, "cancelled", 143)
    [attempt] = docker_store.attempts_of(execution.id)
    assert attempt.stdout == "stopping\n"
    wait_nothing_left(swarm, docker_store)


# -- what the job gets ----------------------------------------------------------------------


def test_given_an_apps_secret_when_its_swarm_job_runs_then_it_is_a_file_and_not_in_the_env(
    docker_store: Store, start_swarm_worker: SwarmWorkerFactory, swarm: SwarmClient
) -> None:
    key = new_key()
    sealed = SecretBox(key).seal("demo", "API_TOKEN", SECRET)
    docker_store.put_secret("demo", "API_TOKEN", sealed, SECRETS_PER_APP_MAX)
    define(
        docker_store,
        "uses-secret",
        "cat /run/secrets/API_TOKEN; echo; stat -c '%a' /run/secrets/API_TOKEN;"
        ' if env | grep -qF "$(cat /run/secrets/API_TOKEN)"; then echo in-env; else echo not-in-env; fi',
    )
    execution = docker_store.enqueue("demo", "uses-secret", "default", None)
    start_swarm_worker(secrets_key=SecretStr(key))

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.SUCCESS, ended.reason
    [attempt] = docker_store.attempts_of(execution.id)
    assert attempt.stdout == f"{SECRET}\n444\nnot-in-env\n"
    # The attempt's Swarm secret went with its service.
    wait_nothing_left(swarm, docker_store)


def test_given_a_message_too_big_for_the_env_when_run_on_swarm_then_the_job_reads_it_from_a_file(
    docker_store: Store, start_swarm_worker: SwarmWorkerFactory
) -> None:
    define(docker_store, "big", 'wc -c < "$PITMASTER_MESSAGE_FILE"', message_delivery="file")
    execution = docker_store.enqueue("demo", "big", "default", {"text": "x" * 1000})

    start_swarm_worker()

    ended = wait_until_ended(docker_store, execution.message_id)
    assert ended.status is Status.SUCCESS, ended.reason
    [attempt] = docker_store.attempts_of(execution.id)
    assert (attempt.stdout or "").strip() == "1012"


@pytest.fixture
def locked_image(swarm: SwarmClient) -> Iterator[str]:
    """A second tag of the demo image on the swarm's node, told apart by a file /revision."""
    container = swarm.create_container(
        "pitmaster-demo:latest",
        ["sh", "-c", "echo locked > /revision"],
        host_config=swarm.create_host_config(network_mode="none"),
    )
    try:
        swarm.start(container)
        swarm.wait(container)
        swarm.commit(container, repository="pitmaster-demo", tag=LOCKED_TAG)
    finally:
        swarm.remove_container(container, force=True)
    yield LOCKED_TAG
    swarm.remove_image(f"pitmaster-demo:{LOCKED_TAG}", force=True)


def test_given_a_revision_lock_when_a_swarm_job_runs_then_it_runs_the_locked_image(
    docker_store: Store, start_swarm_worker: SwarmWorkerFactory, locked_image: str
) -> None:
    define(docker_store, "which", "cat /revision 2>/dev/null || echo latest")
    docker_store.lock_revision("demo", locked_image)
    locked = docker_store.enqueue("demo", "which", "default", None)
    start_swarm_worker()
    assert wait_until_ended(docker_store, locked.message_id).status is Status.SUCCESS

    docker_store.lock_revision("demo", None)
    unlocked = docker_store.enqueue("demo", "which", "default", None)
    assert wait_until_ended(docker_store, unlocked.message_id).status is Status.SUCCESS

    outputs = [docker_store.attempts_of(e.id)[0].stdout for e in (locked, unlocked)]
    assert outputs == ["locked\n", "latest\n"]


# -- crash safety and placement ---------------------------------------------------------------


def test_given_a_worker_died_after_creating_the_service_when_another_runs_then_it_is_adopted(
    docker_store: Store,
    start_swarm_worker: SwarmWorkerFactory,
    swarm: SwarmClient,
    swarm_host: str,
) -> None:
    define(docker_store, "once", "echo ran")
    execution = docker_store.enqueue("demo", "once", "default", None)
    since = datetime.now(UTC)
    # A worker claims and creates the service, then dies before storing it.
    claim = docker_store.claim("dead-worker", lease_seconds=1)
    assert claim is not None and claim.docker_image and claim.command
    dead = SwarmExecutor(swarm_host)
    try:
        made = dead.start(run_spec(claim, claim.docker_image, claim.command))
    finally:
        dead.close()

    start_swarm_worker()
    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.SUCCESS
    [attempt] = docker_store.attempts_of(execution.id)
    assert (attempt.id, attempt.container_id, attempt.stdout) == (
        claim.attempt_id,
        made.handle,
        "ran\n",
    )
    created = swarm.events(
        since=since,
        until=datetime.now(UTC),
        filters={"type": "service", "event": "create", "service": claim.container_name},
        decode=True,
    )
    assert [event["Actor"]["ID"] for event in created] == [made.handle]
    wait_nothing_left(swarm, docker_store)


def test_given_a_start_with_files_made_twice_then_one_service_and_one_secret_per_file(
    docker_store: Store, swarm: SwarmClient, swarm_host: str
) -> None:
    label = installation_label(docker_store)
    spec = RunSpec(
        name=f"pitmaster-{docker_store.installation_id()}-1",
        image="pitmaster-demo:latest",
        command=("cat", "/run/secrets/TOKEN"),
        environment={},
        labels={"pitmaster.installation": docker_store.installation_id(), "pitmaster.attempt": "1"},
        files={"/run/secrets/TOKEN": SECRET.encode()},
    )
    executor = SwarmExecutor(swarm_host)
    try:
        first = executor.start(spec)
        # A second claim of the same attempt (its first worker died) starts it again.
        second = executor.start(spec)

        assert second.handle == first.handle
        assert [s["ID"] for s in swarm.services(filters={"label": label})] == [first.handle]
        assert len(swarm.secrets(filters={"label": label})) == 1
        wait_for(
            lambda: (
                executor.observe_one(first.handle)
                == Observation(
                    state=ContainerState.EXITED,
                    exit_code=0,
                    started_at=ANY,
                    finished_at=ANY,
                )
            ),
            timeout=30,
            what="the job to end",
        )

        executor.remove(first.handle)
        assert nothing_left(swarm, docker_store)
    finally:
        executor.close()


def test_given_a_reservation_no_node_has_when_run_on_swarm_then_pending_with_a_reason_then_error(
    docker_store: Store,
    start_swarm_worker: SwarmWorkerFactory,
    swarm: SwarmClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pitmaster.executors.swarm")
    define(docker_store, "huge", "echo ran", memory=1024**4)
    execution = docker_store.enqueue("demo", "huge", "default", None)
    start_swarm_worker(swarm_unplaceable_seconds=3)

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.ERROR
    assert ended.reason is not None
    assert "could not place the job within 3 s" in ended.reason
    assert "insufficient resources" in ended.reason
    # While it waited, the worker said why.
    assert any("waits for a node" in r.getMessage() for r in caplog.records)
    wait_nothing_left(swarm, docker_store)


def test_given_an_app_limit_of_one_when_three_jobs_run_on_swarm_then_none_overlap(
    docker_store: Store, start_swarm_worker: SwarmWorkerFactory
) -> None:
    docker_store.update_app("demo", {"max_concurrent_executions": 1})
    define(docker_store, "nap", "sleep 0.5")
    executions = [docker_store.enqueue("demo", "nap", "default", None) for _ in range(3)]
    start_swarm_worker(runner_threads=3)

    for execution in executions:
        assert wait_until_ended(docker_store, execution.message_id).status is Status.SUCCESS

    runs = sorted(
        (a.started_at, a.finished_at)
        for e in executions
        for a in docker_store.attempts_of(e.id)
        if a.started_at and a.finished_at
    )
    assert len(runs) == 3
    # The engine's own times: each container started after the one before it ended.
    for (_, finished), (started, _) in itertools.pairwise(runs):
        assert started >= finished
