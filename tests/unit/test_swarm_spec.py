"""Turning attempts into Swarm services and Swarm tasks into observations: plain logic, no engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pitmaster.executors.base import ContainerState, RunSpec
from pitmaster.executors.swarm import SwarmExitStream
from pitmaster.executors.swarm_spec import (
    latest_task,
    placement_constraints,
    resources,
    secret_files,
    task_observation,
)
from pitmaster.worker.poller import outcome_of

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
WAIT = timedelta(seconds=60)


def spec(**changes: Any) -> RunSpec:
    values: dict[str, Any] = {
        "name": "pitmaster-inst-7",
        "image": "demo:1",
        "command": ("echo",),
        "environment": {},
        "labels": {"pitmaster.app": "shop", "pitmaster.queue": "mail"},
    }
    return RunSpec(**(values | changes))


def task(state: str, **status: Any) -> dict[str, Any]:
    return {
        "CreatedAt": (NOW - timedelta(seconds=5)).isoformat(),
        "Status": {"State": state, "Timestamp": NOW.isoformat()} | status,
    }


def test_given_constraints_for_all_the_queue_and_the_app_then_a_job_gets_each_once_in_order() -> (
    None
):
    placement = {
        "*": ["node.role==worker"],
        "queue:mail": ["node.labels.pool==mail", "node.role==worker"],
        "app:shop": ["node.labels.zone==eu"],
        "app:blog": ["node.labels.zone==us"],
    }

    constraints = placement_constraints(spec().labels, placement)

    assert constraints == ["node.role==worker", "node.labels.pool==mail", "node.labels.zone==eu"]


def test_given_memory_and_cpus_then_they_are_limits_and_reservations_and_pids_a_limit_only() -> (
    None
):
    wanted = resources(spec(memory=64 * 2**20, cpus=0.5, pids_limit=100, cpu_shares=512))

    assert wanted == {
        "Limits": {"MemoryBytes": 64 * 2**20, "NanoCPUs": 500_000_000, "Pids": 100},
        "Reservations": {"MemoryBytes": 64 * 2**20, "NanoCPUs": 500_000_000},
    }
    assert resources(spec()) == {}


def test_given_files_then_each_becomes_a_secret_named_from_the_service_with_its_mode() -> None:
    files = {"/run/secrets/B": b"b", "/run/pitmaster/message.json": b"{}"}

    secrets = secret_files(spec(files=files, file_modes={"/run/secrets/B": 0o444}))

    assert [(s.name, s.target, s.mode, s.content) for s in secrets] == [
        ("pitmaster-inst-7.0", "/run/pitmaster/message.json", 0o644, b"{}"),
        ("pitmaster-inst-7.1", "/run/secrets/B", 0o444, b"b"),
    ]


def test_given_task_states_then_each_maps_to_created_running_or_exited() -> None:
    def observe(t: dict[str, Any] | None) -> Any:
        return task_observation(t, NOW, WAIT)

    assert observe(None).state is ContainerState.CREATED
    assert observe(task("preparing")).state is ContainerState.CREATED
    assert observe(task("running")).state is ContainerState.RUNNING
    failed = observe(task("failed", ContainerStatus={"ExitCode": 3}))
    assert (failed.state, failed.exit_code, failed.finished_at) == (ContainerState.EXITED, 3, NOW)
    assert observe(task("complete", ContainerStatus={"ExitCode": 0})).exit_code == 0


def test_given_a_rejected_task_then_it_ended_without_running_and_is_an_error() -> None:
    rejected = task_observation(task("rejected", Err="No such image: demo:1"), NOW, WAIT)

    outcome = outcome_of(rejected)

    assert outcome is not None
    assert (outcome.status.value, outcome.exit_code) == ("error", None)
    assert outcome.reason == "Swarm task rejected: No such image: demo:1"


def test_given_a_pending_task_then_it_waits_until_the_unplaceable_time_then_ends_in_error() -> None:
    err = "no suitable node (insufficient resources on 1 node)"
    pending = task("pending", Err=err)

    waiting = task_observation(pending, NOW, WAIT)
    given_up = task_observation(pending, NOW, timedelta(seconds=5))

    assert waiting.state is ContainerState.CREATED
    assert given_up.state is ContainerState.EXITED
    assert given_up.error == f"Swarm could not place the job within 5 s: {err}"
    # When it was given up on does not move with each look, so a sweep can settle it.
    assert given_up.finished_at == NOW
    assert task_observation(pending, NOW + timedelta(seconds=9), timedelta(seconds=5)) == given_up


def test_given_several_tasks_then_the_newest_is_the_one_that_counts() -> None:
    old, new = {"CreatedAt": "2026-01-01T00:00:00Z"}, {"CreatedAt": "2026-01-01T00:00:01Z"}

    assert latest_task([new, old]) is new
    assert latest_task([]) is None


class _Events(list[dict[str, Any]]):
    closed = False

    def close(self) -> None:
        self.closed = True


def test_given_container_events_then_exits_name_the_service_and_others_are_skipped() -> None:
    attributes = {"com.docker.swarm.service.id": "svc1", "exitCode": "0"}
    events = _Events(
        [
            {"Action": "die", "Actor": {"ID": "c0", "Attributes": {"exitCode": "1"}}},
            {"Action": "oom", "Actor": {"ID": "c1", "Attributes": attributes}},
            {
                "Action": "die",
                "Actor": {"ID": "c1", "Attributes": attributes | {"exitCode": "137"}},
            },
        ]
    )
    stream = SwarmExitStream(events)

    exits = list(stream)
    stream.close()

    assert [(e.handle, e.exit_code, e.oom_killed) for e in exits] == [("svc1", 137, True)]
    assert events.closed
