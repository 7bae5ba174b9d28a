"""Workers on several Docker engines share one database; each observes only its own engine."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pitmaster.models import DEFAULT_QUEUE, Outcome, Status
from pitmaster.store.store import Store
from pitmaster.testing import FakeExecutor
from pitmaster.worker.identity import EngineIdentityConflict, answer_probes, check_engine_identity
from pitmaster.worker.poller import Poller
from pitmaster.worker.runner import Runner

from ..conftest import ManualClock


def test_given_a_job_on_engine_a_when_engine_bs_poller_sweeps_then_it_is_left_alone(
    store: Store,
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["send"])
    engine_a, engine_b = FakeExecutor(engine="engine-a"), FakeExecutor(engine="engine-b")
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    assert Runner(store, engine_a, "worker-a", 60).run_once()

    # When the poller of another engine, which cannot see the container, sweeps,
    recorded_by_b = Poller(store, engine_b, 1024).sweep()

    # then it records nothing (no false "lost"), and engine A's poller records the ending.
    assert recorded_by_b == 0
    assert engine_b.calls.observe == 0
    assert store.get_execution(execution.message_id).status is Status.RUNNING
    [attempt] = store.attempts_of(execution.id)
    assert attempt.engine_id == "engine-a"
    engine_a.finish(next(iter(engine_a.containers)), exit_code=0)
    assert Poller(store, engine_a, 1024).sweep() == 1
    assert store.get_execution(execution.message_id).status is Status.SUCCESS


def _define(store: Store) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["send"])


def test_given_a_claim_on_engine_b_whose_lease_ran_out_then_only_engine_b_takes_it_over(
    clocked_store: Store, clock: ManualClock
) -> None:
    # Given a worker on engine B that claimed an execution and died before storing it as running,
    store = clocked_store
    _define(store)
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    claim = store.claim("worker-b", lease_seconds=5, engine="engine-b")
    assert claim is not None
    [attempt] = store.attempts_of(execution.id)
    assert attempt.engine_id == "engine-b"  # recorded at the claim, before any container

    # When its lease runs out,
    clock.advance(6)

    # then a worker on engine A may not take it (its container may exist on B),
    assert store.claim("worker-a", lease_seconds=5, engine="engine-a") is None
    # and a worker on engine B takes over the same attempt (so it adopts by name).
    taken = store.claim("worker-b2", lease_seconds=5, engine="engine-b")
    assert taken is not None
    assert taken.attempt_id == claim.attempt_id


def test_given_fresh_work_then_a_claim_on_any_engine_takes_it(store: Store) -> None:
    _define(store)
    store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    claim = store.claim("worker-a", lease_seconds=5, engine="engine-a")
    assert claim is not None
    [attempt] = store.attempts_of(claim.execution.id)
    assert attempt.engine_id == "engine-a"


def test_given_attempts_on_an_engine_silent_for_too_long_then_they_end_in_error_once(
    clocked_store: Store, clock: ManualClock
) -> None:
    # Given one attempt running on engine B and one claimed there whose lease ran out,
    store = clocked_store
    _define(store)
    store.heartbeat("worker-b", "host-b", "engine-b", None, engine_description="B")
    running = store.enqueue("shop", "mail", DEFAULT_QUEUE, {"n": 1})
    claimed = store.enqueue("shop", "mail", DEFAULT_QUEUE, {"n": 2})
    first = store.claim("worker-b", lease_seconds=5, engine="engine-b")
    assert first is not None
    store.mark_running(first.attempt_id, "container-1", "engine-b", clock.now)
    assert store.claim("worker-b", lease_seconds=5, engine="engine-b") is not None
    # and engine A's worker alive all along,
    store.heartbeat("worker-a", "host-a", "engine-a", None, engine_description="A")

    # When no worker reaches engine B for less than the limit, nothing ends;
    clock.advance(500)
    assert store.end_stranded_attempts(600) == []

    # when the silence passes the limit, both end in error saying why, once.
    clock.advance(200)
    ended = store.end_stranded_attempts(600)
    assert sorted(s.message_id for s in ended) == sorted([running.message_id, claimed.message_id])
    for execution in (running, claimed):
        now = store.get_execution(execution.message_id)
        assert now.status is Status.ERROR
        assert now.reason is not None
        assert now.reason.startswith("engine engine-b unreachable: no worker reached it for 12 min")
    assert store.end_stranded_attempts(600) == []


def test_given_an_engine_still_reached_then_its_long_running_attempts_are_left_alone(
    clocked_store: Store, clock: ManualClock
) -> None:
    store = clocked_store
    _define(store)
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    claim = store.claim("worker-b", lease_seconds=5, engine="engine-b")
    assert claim is not None
    store.mark_running(claim.attempt_id, "container-1", "engine-b", clock.now)
    for _ in range(10):
        clock.advance(300)
        store.heartbeat("worker-b", "host-b", "engine-b", None, engine_description="B")
        assert store.end_stranded_attempts(600) == []
    assert store.get_execution(execution.message_id).status is Status.RUNNING


def test_given_a_container_whose_attempt_already_ended_then_the_sweep_removes_it(
    clocked_store: Store, clock: ManualClock
) -> None:
    # Given an attempt that ended while its engine was away, and its container on the engine,
    store = clocked_store
    _define(store)
    engine = FakeExecutor(engine="engine-b")
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    assert Runner(store, engine, "worker-b", 60).run_once()
    [attempt] = store.attempts_of(execution.id)
    store.record_outcome(attempt.id, Outcome(Status.ERROR, "engine engine-b unreachable"))
    # and another execution running there now,
    other = store.enqueue("shop", "mail", DEFAULT_QUEUE, {"other": True})
    assert Runner(store, engine, "worker-b", 60).run_once()

    # When the engine's poller looks for containers left behind, at once and a minute later,
    poller = Poller(store, engine, 1024)
    assert poller.remove_left_behind(60) == 0  # just ended: the recording worker's to remove
    clock.advance(61)
    removed = poller.remove_left_behind(60)

    # then only the ended attempt's container is removed, and its ending stands.
    assert removed == 1
    [kept] = engine.containers.values()
    assert kept.spec.labels["pitmaster.execution"] == other.message_id
    assert store.get_execution(execution.message_id).status is Status.ERROR


# -- engine identity: cloned hosts ----------------------------------------------------


@contextmanager
def answering(store: Store, executor: FakeExecutor, worker_id: str) -> Iterator[None]:
    """A peer worker's heartbeat loop, answering probes while the block runs."""
    stop = threading.Event()

    def answer() -> None:
        while not stop.wait(0.02):
            answer_probes(store, executor, worker_id)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_given_a_live_worker_on_the_same_engine_then_the_identity_check_passes(
    store: Store,
) -> None:
    probes: set[str] = set()  # one engine, seen by two workers
    first = FakeExecutor(engine="engine-x", probes=probes)
    second = FakeExecutor(engine="engine-x", probes=probes)
    store.heartbeat("worker-1", "host-1", "engine-x", None)
    with answering(store, first, "worker-1"):
        check_engine_identity(store, second, "worker-2", 15, threading.Event(), 5)
    assert probes == set()  # the probe is cleaned up


def test_given_a_live_worker_on_a_cloned_engine_then_the_second_worker_is_refused(
    store: Store,
) -> None:
    # Given two engines that claim one identity (a cloned disk), each with its own probes,
    original = FakeExecutor(engine="engine-x", probes=set())
    clone = FakeExecutor(engine="engine-x", probes=set())
    store.heartbeat("worker-1", "host-1", "engine-x", None)

    # When a worker starts on the clone, then it is refused, with the cause and the remedy.
    with (
        answering(store, original, "worker-1"),
        pytest.raises(EngineIdentityConflict) as refused,
    ):
        check_engine_identity(store, clone, "worker-2", 15, threading.Event(), 5)
    message = str(refused.value)
    assert "worker worker-1 on host host-1" in message
    assert "runs on another Docker engine" in message
    assert "docker volume rm pitmaster-engine-identity" in message


@contextmanager
def heartbeating(store: Store, worker_id: str, engine: str) -> Iterator[None]:
    """A live peer that sends heartbeats but never answers probes (an old version, say)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.05):
            store.heartbeat(worker_id, "host-1", engine, None)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_given_a_live_peer_that_never_answers_then_the_check_refuses_after_waiting(
    store: Store,
) -> None:
    store.heartbeat("worker-1", "host-1", "engine-x", None)
    started = time.monotonic()
    with (
        heartbeating(store, "worker-1", "engine-x"),
        pytest.raises(EngineIdentityConflict, match="did not confirm within 1 s"),
    ):
        check_engine_identity(
            store, FakeExecutor(engine="engine-x"), "worker-2", 15, threading.Event(), 1
        )
    assert time.monotonic() - started >= 1


def test_given_a_dead_peer_whose_row_has_not_expired_then_the_check_passes_after_waiting(
    store: Store,
) -> None:
    # Given a worker killed a moment ago: its heartbeat is recent, but it sends no more.
    store.heartbeat("worker-1", "host-1", "engine-x", None)
    started = time.monotonic()
    check_engine_identity(
        store, FakeExecutor(engine="engine-x"), "worker-2", 15, threading.Event(), 1
    )
    # Then the new worker waited for an answer, and went on once none came.
    assert 1 <= time.monotonic() - started < 10


def test_given_no_other_worker_on_the_engine_then_the_check_asks_nothing(store: Store) -> None:
    store.heartbeat("worker-1", "host-1", "engine-other", None)
    executor = FakeExecutor(engine="engine-x")
    check_engine_identity(store, executor, "worker-2", 15, threading.Event(), 5)
    assert store.probes_for("worker-1") == []


def test_given_a_claim_taken_over_and_ended_when_the_slow_runner_reports_then_it_removes_nothing(
    clocked_store: Store, clock: ManualClock
) -> None:
    # Given a runner whose lease ran out while it was starting the container,
    store = clocked_store
    _define(store)
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    slow = store.claim("runner-1", lease_seconds=2, engine="engine-a")
    assert slow is not None
    clock.advance(3)
    # and another runner that took it over, adopted the container, and saw the job end,
    fast = store.claim("runner-2", lease_seconds=2, engine="engine-a")
    assert fast is not None and fast.attempt_id == slow.attempt_id
    assert store.mark_running(fast.attempt_id, "container-1", "engine-a", clock.now).value == (
        "running"
    )
    store.record_outcome(
        fast.attempt_id, Outcome(Status.SUCCESS, "exited 0", 0), output_pending=True
    )

    # When the slow runner reports the same container as started,
    result = store.mark_running(slow.attempt_id, "container-1", "engine-a", clock.now)

    # then it is told the container is another runner's (whose output reader removes it),
    # not that the attempt was cancelled (which would have it remove the container).
    assert result.value == "already running"
    assert store.get_execution(execution.message_id).output_pending
