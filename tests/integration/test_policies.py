"""Job policies with real containers, on both databases: retries, OOM, timeouts, cancel, idempotency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from itertools import pairwise
from typing import Any

import docker
import httpx
import pytest

from pitmaster.models import Attempt, AttemptState, ExecutionFilter, Status
from pitmaster.retry import RetryPolicy
from pitmaster.store.store import Store

from ..credentials import ADMIN
from ..processes import Deployment
from ..waiting import wait_for
from .conftest import WorkerFactory, installation_label, wait_until_ended

pytestmark = pytest.mark.docker

MIB = 1024 * 1024


def define(store: Store, job: str, script: str, **policy: Any) -> None:
    store.create_job_definition("demo", job, ["sh", "-c", script], **policy)


def no_containers_left(client: docker.DockerClient, store: Store) -> bool:
    # The low-level listing: the high-level one inspects each container and fails with
    # NotFound on one that the poller removes meanwhile.
    return not client.api.containers(all=True, filters={"label": installation_label(store)})


def running_attempt(store: Store, execution_id: int) -> Attempt | None:
    """The execution's latest attempt once its container runs, else None."""
    attempt = store.attempts_of(execution_id)[-1]
    return attempt if attempt.state is AttemptState.RUNNING else None


def wait_running(store: Store, execution_id: int) -> Attempt:
    attempt = wait_for(
        lambda: running_attempt(store, execution_id), timeout=30, what="the job to run"
    )
    assert isinstance(attempt, Attempt)
    assert attempt.container_id is not None
    return attempt


# -- retries --------------------------------------------------------------------------


def test_given_a_job_failing_twice_when_retried_with_backoff_then_the_third_attempt_succeeds(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    define(
        docker_store,
        "flaky",
        'echo "try $BARBEQUE_RETRY_COUNT $BARBEQUE_MESSAGE_ID $PITMASTER_ATTEMPT_ID";'
        ' [ "$BARBEQUE_RETRY_COUNT" -ge 2 ]',
        retry_limit=3,
        base_delay=1,
        jitter=False,
    )
    execution = docker_store.enqueue("demo", "flaky", "default", {"n": 1})
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id, timeout=60)

    assert (ended.status, ended.exit_code) == (Status.SUCCESS, 0)
    made = docker_store.attempts_of(execution.id)
    assert [(a.number, a.status, a.exit_code) for a in made] == [
        (0, Status.FAILED, 1),
        (1, Status.FAILED, 1),
        (2, Status.SUCCESS, 0),
    ]
    assert [a.stdout for a in made] == [
        f"try {a.number} {execution.message_id} {a.message_id}\n" for a in made
    ]
    assert len({a.message_id for a in made}) == 3
    assert made[0].message_id == execution.message_id
    policy = RetryPolicy(retry_limit=3, base_delay=1)
    for before, retry in pairwise(made):
        # Times are Docker's: each retry started no earlier than the backoff after the failure.
        assert before.finished_at is not None and retry.started_at is not None
        delay = timedelta(seconds=policy.delay(before.number))
        assert retry.started_at >= before.finished_at + delay
    assert ended.finished_at == made[-1].finished_at
    wait_for(
        lambda: no_containers_left(docker_client, docker_store),
        timeout=30,
        what="every container to be removed",
    )


@pytest.mark.parametrize(("exit_code", "attempts"), [(4, 1), (3, 2)])
def test_given_retry_exit_codes_when_a_job_exits_with_an_unlisted_code_then_it_stops_at_once(
    docker_store: Store, start_worker: WorkerFactory, exit_code: int, attempts: int
) -> None:
    define(
        docker_store,
        "picky",
        f"exit {exit_code}",
        retry_limit=1,
        base_delay=0,
        retry_on=["failed"],
        retry_exit_codes=[3],
    )
    execution = docker_store.enqueue("demo", "picky", "default", None)
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id, timeout=60)

    assert (ended.status, ended.exit_code, ended.reason) == (
        Status.FAILED,
        exit_code,
        f"exited {exit_code}",
    )
    assert len(docker_store.attempts_of(execution.id)) == attempts


# -- OOM and SIGKILL -------------------------------------------------------------------


def test_given_a_memory_limit_when_a_job_outgrows_it_then_failed_oom(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    define(
        docker_store,
        "hungry",
        'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo "${#x}"',
        memory=8 * MIB,
    )
    execution = docker_store.enqueue("demo", "hungry", "default", None)
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id, timeout=60)

    assert (ended.status, ended.reason, ended.exit_code) == (Status.FAILED, "oom", 137)
    wait_for(
        lambda: no_containers_left(docker_client, docker_store),
        timeout=30,
        what="every container to be removed",
    )


def test_given_a_memory_limit_when_a_job_is_sigkilled_from_outside_then_failed_137_not_oom(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    # `sh -c 'kill -9 $$'` cannot do this: the shell is PID 1 in its container, and the
    # kernel drops SIGKILL sent to PID 1 from inside; so the kill comes from outside.
    define(docker_store, "sleeper", "sleep 60", memory=8 * MIB)
    execution = docker_store.enqueue("demo", "sleeper", "default", None)
    start_worker()
    attempt = wait_running(docker_store, execution.id)
    assert attempt.container_id is not None

    docker_client.containers.get(attempt.container_id).kill("SIGKILL")

    ended = wait_until_ended(docker_store, execution.message_id)
    assert (ended.status, ended.exit_code, ended.reason) == (Status.FAILED, 137, "exited 137")
    wait_for(
        lambda: no_containers_left(docker_client, docker_store),
        timeout=30,
        what="every container to be removed",
    )


# -- timeouts ---------------------------------------------------------------------------


def test_given_a_job_ignoring_sigterm_when_it_times_out_then_sigkilled_after_the_grace(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    define(
        docker_store,
        "stubborn",
        'trap "" TERM; sleep 60',
        timeout_seconds=1,
        stop_grace_seconds=2,
    )
    execution = docker_store.enqueue("demo", "stubborn", "default", None)
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id, timeout=45)

    assert (ended.status, ended.reason, ended.exit_code) == (Status.FAILED, "timeout", 137)
    (attempt,) = docker_store.attempts_of(execution.id)
    assert attempt.started_at is not None and attempt.finished_at is not None
    ran_for = attempt.finished_at - attempt.started_at
    # timeout (1 s) + grace (2 s) at least; far less than the 60 s it would have slept.
    assert timedelta(seconds=3) <= ran_for < timedelta(seconds=20)
    wait_for(
        lambda: no_containers_left(docker_client, docker_store),
        timeout=30,
        what="every container to be removed",
    )


# -- cancellation -----------------------------------------------------------------------


def test_given_a_delayed_execution_when_cancelled_then_it_never_starts(
    docker_store: Store, start_worker: WorkerFactory
) -> None:
    define(docker_store, "later", "echo ran")
    delayed = docker_store.enqueue("demo", "later", "default", None, delay_seconds=1)
    start_worker()

    cancelled = docker_store.cancel(delayed.message_id)
    # A later job that did run shows that the worker was up past the delayed one's time.
    marker = docker_store.enqueue("demo", "later", "default", None, delay_seconds=2)
    assert wait_until_ended(docker_store, marker.message_id).status is Status.SUCCESS

    assert (cancelled.status, cancelled.reason) == (Status.CANCELLED, "cancelled")
    assert docker_store.get_execution(delayed.message_id).status is Status.CANCELLED
    (attempt,) = docker_store.attempts_of(delayed.id)
    assert (attempt.state, attempt.status) == (AttemptState.ENDED, Status.CANCELLED)
    assert (attempt.container_id, attempt.started_at) == (None, None)


def test_given_a_running_execution_when_cancelled_then_its_container_is_stopped_and_removed(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    define(
        docker_store,
        "long",
        'trap "echo stopping; exit 143" TERM; sleep 60 & wait',
        retry_limit=3,
        base_delay=0,
    )
    execution = docker_store.enqueue("demo", "long", "default", None)
    start_worker()
    attempt = wait_running(docker_store, execution.id)
    assert attempt.container_id is not None

    docker_store.cancel(execution.message_id)

    # (Well within the job's own 60 s, so only the stop can have ended it.)
    ended = wait_until_ended(docker_store, execution.message_id, timeout=45)
    assert (ended.status, ended.reason, ended.exit_code) == (Status.CANCELLED, "cancelled", 143)
    (recorded,) = docker_store.attempts_of(execution.id)  # cancelled: never retried
    assert recorded.stdout == "stopping\n"  # it got SIGTERM, and the time to react to it
    assert recorded.finished_at is not None and recorded.started_at is not None
    assert recorded.finished_at - recorded.started_at < timedelta(seconds=30)
    wait_for(
        lambda: no_containers_left(docker_client, docker_store),
        timeout=30,
        what="every container to be removed",
    )
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(attempt.container_id)


def test_given_a_retry_waiting_to_start_when_cancelled_then_it_never_starts(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    define(docker_store, "failing", "exit 1", retry_limit=3, base_delay=3600)
    execution = docker_store.enqueue("demo", "failing", "default", None)
    start_worker()
    wait_for(
        lambda: docker_store.get_execution(execution.message_id).status is Status.RETRIED,
        timeout=30,
        what="the first attempt to fail and be retried",
    )

    cancelled = docker_store.cancel(execution.message_id)

    assert (cancelled.status, cancelled.reason) == (Status.CANCELLED, "cancelled")
    first, retry = docker_store.attempts_of(execution.id)
    assert (first.status, first.exit_code) == (Status.FAILED, 1)
    assert (retry.state, retry.status, retry.container_id) == (
        AttemptState.ENDED,
        Status.CANCELLED,
        None,
    )
    wait_for(
        lambda: no_containers_left(docker_client, docker_store),
        timeout=30,
        what="every container to be removed",
    )


# -- idempotency under concurrency ----------------------------------------------------------


@pytest.mark.xdist_group("engine-heavy")
def test_given_100_concurrent_requests_with_one_idempotency_key_then_one_execution(
    docker_store: Store, deployment: Deployment
) -> None:
    define(docker_store, "once", "echo once")
    deployment.wait_healthy(deployment.start("server", "--port", str(deployment.port)))
    requests = 100
    barrier = threading.Barrier(requests)
    body = {"application": "demo", "job": "once", "message": {"order": 42}}

    def post(_: int) -> httpx.Response:
        barrier.wait(timeout=30)
        return httpx.post(
            f"{deployment.url}/v2/job_executions",
            json=body,
            headers={"Idempotency-Key": "order-42", **ADMIN},
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=requests) as pool:
        responses = list(pool.map(post, range(requests)))

    assert [r.status_code for r in responses] == [201] * requests, {
        r.status_code: r.text for r in responses
    }
    assert len({r.json()["message_id"] for r in responses}) == 1
    made = docker_store.list_executions(ExecutionFilter(application="demo"), limit=500).items
    assert [e.message_id for e in made] == [responses[0].json()["message_id"]]
    assert len(docker_store.attempts_of(made[0].id)) == 1
