"""barbeque's jobs in real containers: what they see on each attempt, and their messages."""

from __future__ import annotations

import json
from datetime import datetime

import docker
import pytest
from docker.models.containers import Container

from pitmaster.models import MESSAGE_ENV_LIMIT, MessageDelivery, Status
from pitmaster.store.store import Store

from ..waiting import wait_for
from .conftest import WorkerFactory, wait_until_ended

pytestmark = pytest.mark.docker

JOB = "Admin::NotifyJob"
PRINT_ENV = (
    "for v in JOB MESSAGE MESSAGE_ID QUEUE_NAME RETRY_COUNT SENT_TIMESTAMP; do"
    ' eval "echo BARBEQUE_$v=\\$BARBEQUE_$v"; done;'
    ' echo "PITMASTER_ATTEMPT_ID=$PITMASTER_ATTEMPT_ID"; exit 1'
)


def _seen(stdout: str | None) -> dict[str, str]:
    assert stdout is not None
    return dict(line.split("=", 1) for line in stdout.splitlines())


def _epoch_ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def test_given_an_activejob_job_when_it_fails_is_retried_and_retried_by_hand_then_it_keeps_its_id(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    # Given a job named as ActiveJob names it, retried once automatically, that fails.
    docker_store.create_job_definition(
        "demo", JOB, ["sh", "-c", PRINT_ENV], retry_limit=1, base_delay=0.2
    )
    arguments = [42, {"to": "Zoë"}]
    execution = docker_store.enqueue("demo", JOB, "default", arguments)
    start_worker()
    wait_until_ended(docker_store, execution.message_id, timeout=60)

    # When it is retried by hand once more (the API's /retries does this).
    retry_id = docker_store.retry(execution.message_id, 0)
    ended = wait_until_ended(docker_store, execution.message_id, timeout=60)

    # Then each attempt saw the execution's message_id, its retry count and its own time.
    assert ended.status is Status.FAILED
    first, automatic, by_hand = docker_store.attempts_of(ended.id)
    assert by_hand.message_id == retry_id
    seen = [_seen(attempt.stdout) for attempt in (first, automatic, by_hand)]
    for count, (attempt, env) in enumerate(zip((first, automatic, by_hand), seen, strict=True)):
        assert env["BARBEQUE_JOB"] == JOB
        assert json.loads(env["BARBEQUE_MESSAGE"]) == arguments
        assert env["BARBEQUE_MESSAGE_ID"] == execution.message_id
        assert env["BARBEQUE_QUEUE_NAME"] == "default"
        assert env["BARBEQUE_RETRY_COUNT"] == str(count)
        assert env["PITMASTER_ATTEMPT_ID"] == attempt.message_id
    # BARBEQUE_SENT_TIMESTAMP: the enqueue, then each retry's own, later each time.
    stamps = [int(env["BARBEQUE_SENT_TIMESTAMP"]) for env in seen]
    assert stamps[0] == int(_epoch_ms(execution.created_at))
    assert stamps[0] < stamps[1] < stamps[2]
    assert first.finished_at is not None and automatic.finished_at is not None
    assert stamps[1] >= int(_epoch_ms(first.finished_at)) - 1000
    assert stamps[2] >= int(_epoch_ms(automatic.finished_at)) - 1000


def test_given_a_job_name_with_colons_when_run_then_its_container_carries_it_as_a_label(
    docker_store: Store, start_worker: WorkerFactory, docker_client: docker.DockerClient
) -> None:
    docker_store.create_job_definition("demo", JOB, ["sh", "-c", "sleep 30"])
    execution = docker_store.enqueue("demo", JOB, "default", [])
    start_worker()

    def container() -> Container | None:
        found = docker_client.containers.list(
            filters={"label": f"pitmaster.execution={execution.message_id}"}
        )
        return found[0] if found else None

    found = wait_for(container, timeout=30, what="the job's container")
    assert isinstance(found, Container)
    assert found.labels["pitmaster.job"] == JOB
    assert found.name is not None
    assert found.name.startswith(f"pitmaster-{docker_store.installation_id()}-")
    # By its label, with the colons, too.
    assert docker_client.containers.list(filters={"label": f"pitmaster.job={JOB}"}) != []
    docker_store.cancel(execution.message_id)
    assert wait_until_ended(docker_store, execution.message_id).status is Status.CANCELLED


@pytest.mark.parametrize(
    ("delivery", "size", "seen"),
    [
        (MessageDelivery.FILE, 10, ("absent", True)),
        (MessageDelivery.ENV, 10, ("present", False)),
        (MessageDelivery.AUTO, 10, ("present", False)),
        (MessageDelivery.AUTO, MESSAGE_ENV_LIMIT + 10, ("absent", True)),
    ],
)
def test_given_a_delivery_when_run_then_the_message_comes_that_way(
    docker_store: Store,
    start_worker: WorkerFactory,
    delivery: MessageDelivery,
    size: int,
    seen: tuple[str, bool],
) -> None:
    script = (
        'echo "${BARBEQUE_MESSAGE:+present}${BARBEQUE_MESSAGE:-absent}" | cut -c1-7;'
        ' if [ -n "$PITMASTER_MESSAGE_FILE" ]; then wc -c < "$PITMASTER_MESSAGE_FILE"; fi'
    )
    docker_store.create_job_definition(
        "demo", "deliver", ["sh", "-c", script], message_delivery=delivery
    )
    message = {"blob": "x" * size}
    execution = docker_store.enqueue("demo", "deliver", "default", message)
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.SUCCESS
    [attempt] = docker_store.attempts_of(ended.id)
    assert attempt.stdout is not None
    lines = attempt.stdout.split()
    env, as_file = seen
    assert lines[0] == env
    if as_file:
        assert int(lines[1]) == len(json.dumps(message).encode())
    else:
        assert len(lines) == 1


def test_given_env_delivery_and_a_message_too_big_for_it_when_claimed_then_error_saying_why(
    docker_store: Store, start_worker: WorkerFactory
) -> None:
    # Given a message stored past the API's check (the definition changed after the enqueue).
    docker_store.create_job_definition("demo", "strict", ["sh", "-c", "echo ran"])
    execution = docker_store.enqueue(
        "demo", "strict", "default", {"blob": "x" * (MESSAGE_ENV_LIMIT + 10)}
    )
    docker_store.update_job_definition("demo", "strict", {"message_delivery": "env"})
    start_worker()

    ended = wait_until_ended(docker_store, execution.message_id)

    assert ended.status is Status.ERROR
    assert ended.reason is not None
    assert "BARBEQUE_MESSAGE" in ended.reason and "message_delivery: env" in ended.reason
