"""Jobs run in real containers by a real worker, recorded in a real SQLite database."""

from __future__ import annotations

import json

import docker
import pytest

from pitmaster.executors.docker import parse_docker_time
from pitmaster.models import MESSAGE_ENV_LIMIT, AttemptState, Status, container_name
from pitmaster.store.store import Store

from ..containers import labelled
from ..waiting import wait_for
from .conftest import WorkerFactory, wait_until_ended

pytestmark = pytest.mark.docker


def define(store: Store, job: str, script: str) -> None:
    store.create_job_definition("demo", job, ["sh", "-c", script])


def test_given_a_job_exiting_0_when_run_then_success_with_its_output_and_no_container_left(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    define(docker_store, "hello", "echo hello world")
    execution = docker_store.enqueue("demo", "hello", "default", {"n": 1})
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.SUCCESS
    assert ended.exit_code == 0
    assert ended.started_at is not None and ended.finished_at is not None
    [attempt] = docker_store.attempts_of(ended.id)
    assert attempt.stdout == "hello world\n"
    assert attempt.stderr == ""
    # The container is removed right after the ending is recorded.
    label = f"pitmaster.installation={docker_store.installation_id()}"
    wait_for(
        lambda: labelled(docker_client, label) == [],
        timeout=30,
        what="every container to be removed",
    )


def test_given_a_failing_job_when_run_then_failed_with_its_exit_code_and_streams_apart(
    docker_store: Store, start_worker: WorkerFactory
) -> None:
    define(docker_store, "flaky", "echo to-stdout; echo to-stderr >&2; exit 7")
    execution = docker_store.enqueue("demo", "flaky", "default", None)
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.FAILED
    assert ended.exit_code == 7
    assert ended.reason == "exited 7"
    [attempt] = docker_store.attempts_of(ended.id)
    assert attempt.stdout == "to-stdout\n"
    assert attempt.stderr == "to-stderr\n"


def test_given_a_unicode_message_when_run_then_the_job_sees_every_barbeque_variable(
    docker_store: Store, start_worker: WorkerFactory
) -> None:
    message = {"greeting": "こんにちは", "emoji": "🔥", "nested": [1, 2.5, None, True, "ß"]}
    script = (
        'for v in JOB MESSAGE_ID QUEUE_NAME RETRY_COUNT SENT_TIMESTAMP; do eval "echo $v=\\$BARBEQUE_$v"; done;'
        ' printf "%s" "$BARBEQUE_MESSAGE" >&2'
    )
    define(docker_store, "env", script)
    execution = docker_store.enqueue("demo", "env", "default", message)
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.SUCCESS
    [attempt] = docker_store.attempts_of(ended.id)
    assert attempt.stdout is not None and attempt.stderr is not None
    seen = dict(line.split("=", 1) for line in attempt.stdout.splitlines())
    assert seen == {
        "JOB": "env",
        "MESSAGE_ID": execution.message_id,
        "QUEUE_NAME": "default",
        "RETRY_COUNT": "0",
        "SENT_TIMESTAMP": str(int(execution.created_at.timestamp() * 1000)),
    }
    assert json.loads(attempt.stderr) == message


def test_given_a_message_too_big_for_the_environment_when_run_then_the_file_carries_it(
    docker_store: Store, start_worker: WorkerFactory
) -> None:
    message = {"blob": "x" * (MESSAGE_ENV_LIMIT + 10)}
    define(
        docker_store,
        "big",
        'echo "env:${BARBEQUE_MESSAGE:-absent}"; wc -c < "$PITMASTER_MESSAGE_FILE"',
    )
    execution = docker_store.enqueue("demo", "big", "default", message)
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.SUCCESS
    [attempt] = docker_store.attempts_of(ended.id)
    assert attempt.stdout is not None
    env_line, size_line = attempt.stdout.splitlines()
    assert env_line == "env:absent"
    assert int(size_line) == len(json.dumps(message).encode())


def test_given_an_image_that_cannot_be_had_when_run_then_error_naming_the_image(
    docker_store: Store, start_worker: WorkerFactory
) -> None:
    docker_store.create_app("ghost", "pitmaster-test-no-such-image:never")
    docker_store.create_job_definition("ghost", "boo", ["true"])
    execution = docker_store.enqueue("ghost", "boo", "default", None)
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.ERROR
    assert ended.reason is not None
    assert "pitmaster-test-no-such-image:never" in ended.reason


def test_given_a_command_missing_from_the_image_when_run_then_error_saying_why(
    docker_store: Store, start_worker: WorkerFactory
) -> None:
    docker_store.create_job_definition("demo", "typo", ["no-such-command", "--flag"])
    execution = docker_store.enqueue("demo", "typo", "default", None)
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.ERROR
    assert ended.reason is not None
    assert "no-such-command" in ended.reason


def test_given_output_over_the_limit_when_recorded_then_the_tail_is_kept_with_a_mark(
    docker_store: Store, start_worker: WorkerFactory
) -> None:
    # 1,500 lines of 1,000 bytes each: 1.5 MB, over the 64 KiB the fixture allows
    # (long lines: the engine's cost is per line, and 200,000 short ones took 15 s).
    pad = "x" * 994
    define(
        docker_store,
        "chatty",
        f'for i in $(seq 1 1500); do printf "%04d {pad}\\n" $i; done; echo last-line',
    )
    execution = docker_store.enqueue("demo", "chatty", "default", None)
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    [attempt] = docker_store.attempts_of(ended.id)
    assert attempt.stdout is not None
    mark, _, kept = attempt.stdout.partition("\n")
    assert mark.startswith("[pitmaster: stdout truncated")
    assert len(kept.encode()) == 64 * 1024
    assert kept.endswith(f"1499 {pad}\n1500 {pad}\nlast-line\n")


def test_given_a_running_job_when_its_worker_stops_and_another_starts_then_recorded_once_with_dockers_finish_time(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    define(docker_store, "slow", "echo begun; sleep 5; echo done")
    execution = docker_store.enqueue("demo", "slow", "default", None)
    first = start_worker()
    running = wait_for(
        lambda: docker_store.get_execution(execution.message_id).status is Status.RUNNING,
        timeout=30,
        what="the job to run",
    )
    assert running

    # When the first worker stops while the job runs, the container keeps going.
    first.stop()
    [attempt] = docker_store.attempts_of(execution.id)
    assert attempt.state is AttemptState.RUNNING and attempt.container_id is not None
    container = docker_client.containers.get(attempt.container_id)
    assert container.status == "running"
    assert container.wait(timeout=30)["StatusCode"] == 0
    container.reload()
    docker_started_at = parse_docker_time(container.attrs["State"]["StartedAt"])
    docker_finished_at = parse_docker_time(container.attrs["State"]["FinishedAt"])
    assert docker_store.get_execution(execution.message_id).status is Status.RUNNING

    # Then a second worker records it, once, with the time Docker gives.
    start_worker()
    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.SUCCESS
    # (Docker's times on both ends: its StartedAt can fall a few ms into the sleep)
    assert (ended.started_at, ended.finished_at) == (docker_started_at, docker_finished_at)
    [recorded] = docker_store.attempts_of(execution.id)
    assert recorded.stdout == "begun\ndone\n"
    assert docker_finished_at is not None
    assert recorded.recorded_at is not None and recorded.recorded_at >= docker_finished_at


def test_given_a_container_removed_from_outside_when_swept_then_error_lost(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    define(docker_store, "sleepy", "sleep 60")
    execution = docker_store.enqueue("demo", "sleepy", "default", None)
    start_worker()
    wait_for(
        lambda: docker_store.get_execution(execution.message_id).status is Status.RUNNING,
        timeout=30,
        what="the job to run",
    )
    [attempt] = docker_store.attempts_of(execution.id)
    assert attempt.container_id is not None

    docker_client.containers.get(attempt.container_id).remove(force=True)
    # Only a sweep records it: nothing else would before engine_silent_after (600 s).
    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.ERROR
    assert ended.reason == "lost"


def test_given_a_worker_died_after_creating_the_container_when_the_lease_ends_then_it_is_adopted(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    define(docker_store, "once", "echo ran")
    execution = docker_store.enqueue("demo", "once", "default", None)
    # A worker claims and creates the container, then dies before storing its id.
    claim = docker_store.claim("dead-worker", lease_seconds=1)
    assert claim is not None
    name = container_name(docker_store.installation_id(), claim.attempt_id)
    container = docker_client.containers.create(
        "pitmaster-demo:latest",
        ["sh", "-c", "echo ran"],
        name=name,
        labels={
            "pitmaster.installation": docker_store.installation_id(),
            "pitmaster.attempt": str(claim.attempt_id),
        },
    )

    start_worker()
    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.SUCCESS
    attempts = docker_store.attempts_of(execution.id)
    assert [a.id for a in attempts] == [claim.attempt_id]
    assert attempts[0].stdout == "ran\n"
    # The pre-made container is the attempt's, and nothing is left behind.
    assert attempts[0].container_id == container.id
    label = f"pitmaster.installation={docker_store.installation_id()}"
    wait_for(
        lambda: labelled(docker_client, label) == [],
        timeout=30,
        what="every container to be removed",
    )


def test_given_default_settings_when_a_job_runs_then_its_container_is_hardened(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    define(docker_store, "sleepy", "sleep 30")
    execution = docker_store.enqueue("demo", "sleepy", "default", None)
    start_worker()
    wait_for(
        lambda: docker_store.get_execution(execution.message_id).status is Status.RUNNING,
        timeout=30,
        what="the job to run",
    )
    [attempt] = docker_store.attempts_of(execution.id)
    assert attempt.container_id is not None

    host = docker_client.containers.get(attempt.container_id).attrs["HostConfig"]

    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["Privileged"] is False
    assert not host.get("Binds") and not host.get("Mounts")
    assert host["PidsLimit"] == 1024
    assert host["Memory"] == 2 * 1024**3
    assert host["MemorySwap"] == 2 * 1024**3
    assert host["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-size": str(32 * 1024 * 1024), "max-file": "1"},
    }
