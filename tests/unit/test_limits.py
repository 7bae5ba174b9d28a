"""Concurrency limits, pending reasons and worker heartbeats: the store and the runner.

Every test runs on SQLite and on PostgreSQL (the ``database_url`` fixture).
A limit counts an attempt from its claim until its ending is recorded, so
"live" below means an attempt that is ``starting`` or ``running``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from pitmaster.executors.base import ContainerState
from pitmaster.models import (
    AttemptState,
    Claim,
    Execution,
    ExecutionFilter,
    MarkResult,
    Outcome,
    Status,
)
from pitmaster.store.engine import create_engine
from pitmaster.store.schema import attempts, job_executions
from pitmaster.store.store import Store
from pitmaster.testing import FakeExecutor
from pitmaster.worker.poller import Poller
from pitmaster.worker.runner import Runner

if TYPE_CHECKING:
    from tests.conftest import ManualClock

LEASE = 30.0
LOG_LIMIT = 64 * 1024
ALIVE = 15.0  # worker_alive_seconds of the default heartbeat_interval (5 s)
LIVE_STATES = (AttemptState.STARTING, AttemptState.RUNNING)
STARTED_AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
KINDS = ("queue", "app", "global")


# -- helpers ----------------------------------------------------------------------------


def _limited(store: Store, kind: str, limit: int | None) -> int | None:
    """Given app ``shop`` (job ``work``) and queue ``q``, with ``limit`` on the one ``kind`` names.

    Returns the ``global_limit`` a claimer must pass (the global limit is a worker setting).
    """
    store.create_app("shop", "shop:1", max_concurrent_executions=limit if kind == "app" else None)
    store.create_job_definition("shop", "work", ["work"])
    store.create_queue("q", max_concurrent_executions=limit if kind == "queue" else None)
    return limit if kind == "global" else None


def _enqueue(store: Store, count: int, app: str = "shop", queue: str = "q") -> list[Execution]:
    return [store.enqueue(app, "work", queue, {"n": n}) for n in range(count)]


def _outcome(status: Status = Status.SUCCESS) -> Outcome:
    return Outcome(
        status=status,
        reason="exited 0" if status is Status.SUCCESS else "exited 1",
        exit_code=0 if status is Status.SUCCESS else 1,
        finished_at=datetime(2026, 3, 1, 13, 0, tzinfo=UTC),
        stdout="",
        stderr="",
    )


def _live_attempts(store: Store) -> list[tuple[str, str, AttemptState]]:
    """(queue, app, state) of every live attempt, read through the store's public API."""
    live = []
    for execution in store.list_executions(ExecutionFilter(), limit=500).items:
        for attempt in store.attempts_of(execution.id):
            if attempt.state in LIVE_STATES:
                live.append((execution.queue, execution.application, attempt.state))
    return live


def _claim(store: Store, worker: str = "w", global_limit: int | None = None) -> Claim | None:
    return store.claim(worker, LEASE, global_limit=global_limit)


def _claim_ok(store: Store, worker: str = "w", global_limit: int | None = None) -> Claim:
    claim = _claim(store, worker, global_limit)
    assert claim is not None, "expected a claim within the limits"
    return claim


def _run(store: Store, claim: Claim) -> None:
    """Store the claim's container as started, as the runner does after ``start``."""
    assert (
        store.mark_running(claim.attempt_id, f"c-{claim.attempt_id}", "engine", STARTED_AT)
        is MarkResult.RUNNING
    )


def _status(store: Store, execution: Execution) -> Status:
    return store.get_execution(execution.message_id).status


def _reason(store: Store, execution: Execution, global_limit: int | None = None) -> str | None:
    fresh = store.get_execution(execution.message_id)
    return store.pending_reason(fresh, global_limit, ALIVE)


# -- each limit stops claims at the limit ---------------------------------------------------


@pytest.mark.parametrize("started", [False, True], ids=["claimed", "running"])
@pytest.mark.parametrize("kind", KINDS)
def test_given_a_limit_of_two_when_two_attempts_are_live_then_a_third_claim_gets_nothing(
    store: Store, kind: str, started: bool
) -> None:
    # Given a limit of 2 and four pending executions under it.
    global_limit = _limited(store, kind, 2)
    pending = _enqueue(store, 4)

    # When two are claimed (and maybe started).
    first, second = _claim_ok(store, "a", global_limit), _claim_ok(store, "b", global_limit)
    if started:
        _run(store, first)
        _run(store, second)

    # Then a third claim gets nothing, and the other two stay pending.
    assert _claim(store, "c", global_limit) is None
    assert {first.execution.id, second.execution.id} == {pending[0].id, pending[1].id}
    assert [_status(store, e) for e in pending[2:]] == [Status.PENDING, Status.PENDING]
    expected_state = AttemptState.RUNNING if started else AttemptState.STARTING
    assert [state for _, _, state in _live_attempts(store)] == [expected_state] * 2


@pytest.mark.parametrize("kind", KINDS)
def test_given_a_full_limit_when_an_attempt_ends_then_its_slot_is_free_again(
    store: Store, kind: str
) -> None:
    # Given a limit of 2, both slots taken (one starting, one running), two more pending.
    global_limit = _limited(store, kind, 2)
    _enqueue(store, 4)
    starting, running = _claim_ok(store, "a", global_limit), _claim_ok(store, "b", global_limit)
    _run(store, running)
    assert _claim(store, "c", global_limit) is None

    # When the running one ends.
    assert store.record_outcome(running.attempt_id, _outcome(Status.FAILED))

    # Then exactly one more claim fits.
    third = _claim_ok(store, "c", global_limit)
    assert third.execution.id not in (starting.execution.id, running.execution.id)
    assert _claim(store, "d", global_limit) is None

    # And an attempt that ends before it started (error at start) frees its slot too.
    assert store.record_outcome(starting.attempt_id, _outcome(Status.ERROR))
    assert _claim(store, "d", global_limit) is not None
    assert _claim(store, "e", global_limit) is None
    assert len(_live_attempts(store)) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_given_a_null_limit_then_every_pending_execution_is_claimed(
    store: Store, kind: str
) -> None:
    # Given no limit anywhere (the kind's limit explicitly null).
    global_limit = _limited(store, kind, None)
    pending = _enqueue(store, 12)

    # When claiming until nothing is left.
    claims = []
    while (claim := _claim(store, global_limit=global_limit)) is not None:
        claims.append(claim)

    # Then all twelve were claimed and are live at once.
    assert sorted(c.execution.id for c in claims) == sorted(e.id for e in pending)
    assert len(_live_attempts(store)) == 12


# -- changing a limit ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["queue", "app"])
def test_given_a_limit_when_patched_to_null_then_it_is_removed(store: Store, kind: str) -> None:
    # Given a limit of 1, reached.
    _limited(store, kind, 1)
    _enqueue(store, 3)
    _claim_ok(store)
    assert _claim(store) is None

    # When the limit is set to null, PATCH-style (only that field given).
    update = store.update_queue if kind == "queue" else store.update_app
    name = "q" if kind == "queue" else "shop"
    updated = update(name, {"max_concurrent_executions": None})

    # Then it reads back null and the rest of the work is claimed.
    assert updated.max_concurrent_executions is None
    stored = store.get_queue("q") if kind == "queue" else store.get_app("shop")
    assert stored.max_concurrent_executions is None
    assert _claim(store) is not None
    assert _claim(store) is not None
    assert _claim(store) is None  # all three claimed: nothing left
    assert len(_live_attempts(store)) == 3


@pytest.mark.parametrize("kind", ["queue", "app"])
def test_given_live_attempts_when_the_limit_is_lowered_below_them_then_claims_wait_for_room(
    store: Store, kind: str
) -> None:
    # Given a limit of 3, reached.
    _limited(store, kind, 3)
    _enqueue(store, 5)
    held = [_claim_ok(store) for _ in range(3)]

    # When the limit is lowered to 1 and then raised to 4.
    update = store.update_queue if kind == "queue" else store.update_app
    name = "q" if kind == "queue" else "shop"
    update(name, {"max_concurrent_executions": 1})

    # Then nothing is claimed while 3, then 2, then 1 are live ...
    assert _claim(store) is None
    assert store.record_outcome(held[0].attempt_id, _outcome())
    assert _claim(store) is None
    assert store.record_outcome(held[1].attempt_id, _outcome())
    assert _claim(store) is None
    # ... and a raised limit lets more start at once.
    update(name, {"max_concurrent_executions": 4})
    assert _claim(store) is not None
    assert _claim(store) is not None
    assert len(_live_attempts(store)) == 3


# -- work over a limit does not hold back other work -------------------------------------


def test_given_an_older_execution_in_a_full_queue_then_a_newer_one_in_another_queue_is_claimed(
    store: Store,
) -> None:
    # Given queue 'q' with a limit of 1, and queue 'other' with room under its limit of 2.
    _limited(store, "queue", 1)
    store.create_queue("other", max_concurrent_executions=2)
    first, held_back = _enqueue(store, 2)
    newer = store.enqueue("shop", "work", "other", {})

    # When claiming three times.
    claims = [_claim(store) for _ in range(3)]

    # Then the oldest is taken, the full queue's second is skipped, the newer one is taken.
    assert [c.execution.id if c else None for c in claims] == [first.id, newer.id, None]
    assert _status(store, held_back) is Status.PENDING
    assert [a.state for a in store.attempts_of(held_back.id)] == [AttemptState.QUEUED]


def test_given_an_older_execution_of_a_full_app_then_a_newer_one_of_another_app_is_claimed(
    store: Store,
) -> None:
    # Given app 'shop' with a limit of 1 and app 'blog' with room under its limit of 2.
    _limited(store, "app", 1)
    store.create_app("blog", "blog:1", max_concurrent_executions=2)
    store.create_job_definition("blog", "work", ["work"])
    first, held_back = _enqueue(store, 2)
    newer = store.enqueue("blog", "work", "q", {})

    # When claiming three times.
    claims = [_claim(store) for _ in range(3)]

    # Then the full app's second execution waits and blog's newer one goes first.
    assert [c.execution.id if c else None for c in claims] == [first.id, newer.id, None]
    assert _status(store, held_back) is Status.PENDING


def test_given_a_full_queue_and_full_app_when_either_frees_then_only_work_within_both_starts(
    store: Store,
) -> None:
    # Given queue 'q' (limit 1) and app 'shop' (limit 1); app 'blog' unlimited.
    store.create_app("shop", "shop:1", max_concurrent_executions=1)
    store.create_job_definition("shop", "work", ["work"])
    store.create_app("blog", "blog:1")
    store.create_job_definition("blog", "work", ["work"])
    store.create_queue("q", max_concurrent_executions=1)
    store.create_queue("other")
    shop_q = store.enqueue("shop", "work", "q", 1)
    shop_other = store.enqueue("shop", "work", "other", 2)
    blog_q = store.enqueue("blog", "work", "q", 3)
    blog_other = store.enqueue("blog", "work", "other", 4)

    # When claiming until nothing more fits.
    claimed = []
    while (claim := _claim(store)) is not None:
        claimed.append(claim.execution.id)

    # Then shop_q took both the queue's and the app's only slot: only blog_other could follow.
    assert claimed == [shop_q.id, blog_other.id]
    assert _status(store, shop_other) is Status.PENDING
    assert _status(store, blog_q) is Status.PENDING


# -- a claim whose lease expired is taken over even at the limit -------------------------


@pytest.mark.parametrize(
    "kind",
    [
        "queue",
        "app",
        "global",
    ],
)
def test_given_a_dead_claim_at_the_limit_when_its_lease_expires_then_it_is_taken_over(
    clocked_store: Store, clock: ManualClock, kind: str
) -> None:
    # Given a limit of 1, filled by a claim whose worker died before starting it.
    global_limit = _limited(clocked_store, kind, 1)
    dead_work, other = _enqueue(clocked_store, 2)
    dead = _claim_ok(clocked_store, "dead-worker", global_limit)
    assert dead.execution.id == dead_work.id

    # When its lease runs out and another worker claims.
    clock.advance(LEASE + 1)
    rescued = _claim(clocked_store, "rescuer", global_limit)

    # Then the rescuer takes over the same attempt (it already counts against the limit) ...
    assert rescued is not None
    assert (rescued.execution.id, rescued.attempt_id) == (dead_work.id, dead.attempt_id)
    (attempt,) = clocked_store.attempts_of(dead_work.id)
    assert (attempt.worker_id, attempt.state) == ("rescuer", AttemptState.STARTING)
    # ... and the limit still holds for the other one.
    assert _claim(clocked_store, "rescuer", global_limit) is None
    assert [a.state for a in clocked_store.attempts_of(other.id)] == [AttemptState.QUEUED]
    assert len(_live_attempts(clocked_store)) == 1


# -- queues= restricts the claim -----------------------------------------------------------


def test_given_work_in_several_queues_when_claiming_for_some_then_only_those_are_claimed(
    store: Store,
) -> None:
    # Given older work in 'q', newer work in 'b'; queue 'c' empty.
    _limited(store, "queue", None)
    store.create_queue("b")
    store.create_queue("c")
    in_q = store.enqueue("shop", "work", "q", 1)
    in_b = store.enqueue("shop", "work", "b", 2)

    # When a worker serving only 'b' claims twice.
    first = store.claim("b-worker", LEASE, queues=["b"])
    second = store.claim("b-worker", LEASE, queues=["b"])

    # Then it takes the newer work of 'b' and nothing of 'q', however old.
    assert first is not None
    assert first.execution.id == in_b.id
    assert second is None
    assert _status(store, in_q) is Status.PENDING
    assert store.claim("c-worker", LEASE, queues=["c"]) is None
    assert store.claim("c-worker", LEASE, queues=[]) is None
    # And a worker serving 'q' and 'c' takes it.
    third = store.claim("qc-worker", LEASE, queues=("c", "q"))
    assert third is not None
    assert third.execution.id == in_q.id


def test_given_a_runner_serving_one_queue_when_run_then_it_starts_only_that_queues_work(
    store: Store,
) -> None:
    # Given work in 'q' and in 'other', and a runner that serves only 'other'.
    _limited(store, "queue", None)
    store.create_queue("other")
    in_q = store.enqueue("shop", "work", "q", 1)
    in_other = store.enqueue("shop", "work", "other", 2)
    executor = FakeExecutor()
    runner = Runner(store, executor, "w", LEASE, queues=("other",))

    # When it runs until it finds nothing.
    started = 0
    while runner.run_once():
        started += 1

    # Then only the 'other' execution has a container.
    assert started == 1
    assert [c.spec.labels["pitmaster.queue"] for c in executor.containers.values()] == ["other"]
    assert _status(store, in_other) is Status.RUNNING
    assert _status(store, in_q) is Status.PENDING


# -- the runner and poller under limits ------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_given_a_runner_under_a_limit_when_containers_exit_then_the_next_ones_start(
    store: Store, kind: str
) -> None:
    # Given a limit of 2, five pending executions, and a runner and poller on a fake engine.
    global_limit = _limited(store, kind, 2)
    _enqueue(store, 5)
    executor = FakeExecutor()
    runner = Runner(store, executor, "w", LEASE, global_limit=global_limit)
    poller = Poller(store, executor, LOG_LIMIT)

    def running_containers() -> list[str]:
        return [
            name for name, c in executor.containers.items() if c.state is ContainerState.RUNNING
        ]

    # When the runner runs until it can claim nothing.
    while runner.run_once():
        pass

    # Then two containers run.
    assert len(running_containers()) == 2
    assert executor.calls.created == 2

    # When one exits and the poller records it.
    executor.finish(running_containers()[0], 0)
    assert poller.sweep() == 1
    while runner.run_once():
        pass

    # Then exactly one more starts: two run again, three were created.
    assert len(running_containers()) == 2
    assert executor.calls.created == 3
    statuses = [e.status for e in store.list_executions(ExecutionFilter(), limit=50).items]
    assert sorted(statuses) == sorted(
        [Status.SUCCESS, Status.RUNNING, Status.RUNNING, Status.PENDING, Status.PENDING]
    )


# -- many claimers at once -------------------------------------------------------------------


@contextmanager
def _engine(database_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _count_live(engine: sa.Engine, kind: str) -> int:
    """Live attempts under the limit of ``kind``, counted by the test's own query."""
    query = (
        sa.select(sa.func.count())
        .select_from(attempts)
        .join(job_executions, job_executions.c.id == attempts.c.execution_id)
        .where(attempts.c.state.in_([state.value for state in LIVE_STATES]))
    )
    if kind == "queue":
        query = query.where(job_executions.c.queue == "q")
    elif kind == "app":
        query = query.where(job_executions.c.application == "shop")
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


@pytest.mark.parametrize("kind", KINDS)
def test_given_six_claimers_on_one_database_when_they_race_then_live_attempts_never_exceed_the_limit(  # noqa: C901, PLR0915 -- the race reads best in one place
    store: Store, database_url: str, kind: str
) -> None:
    # Given a limit of 3 and more work than six claimers can take in their rounds.
    limit, claimers, rounds = 3, 6, 16
    global_limit = _limited(store, kind, limit)
    for n in range(claimers * rounds + 10):
        store.enqueue("shop", "work", "q", n)
    start = threading.Barrier(claimers + 1)
    done = threading.Event()
    errors: list[BaseException] = []
    seen: list[int] = []
    claimed: list[int] = []
    lock = threading.Lock()

    def claimer(worker: str) -> None:
        # Each claimer has its own engine, like a separate worker process.
        own = Store(database_url)
        held: list[Claim] = []
        try:
            with _engine(database_url) as engine:
                start.wait(timeout=30)
                for _ in range(rounds):
                    claim = own.claim(worker, LEASE, global_limit=global_limit)
                    if claim is not None:
                        if claim.attempt_id % 2:
                            _run(own, claim)  # some running, some only claimed
                        held.append(claim)
                        live = _count_live(engine, kind)
                        with lock:
                            seen.append(live)
                            claimed.append(claim.execution.id)
                    if held and (claim is None or len(held) >= 2):
                        assert own.record_outcome(held.pop(0).attempt_id, _outcome())
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    def sampler() -> None:
        with _engine(database_url) as engine:
            start.wait(timeout=30)
            while not done.is_set():
                live = _count_live(engine, kind)
                with lock:
                    seen.append(live)

    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(claimers)]
    watcher = threading.Thread(target=sampler)
    for thread in [*threads, watcher]:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    watcher.join(timeout=30)

    # Then no claimer failed, no execution was claimed twice, and no count ever passed the limit.
    assert errors == []
    assert not any(thread.is_alive() for thread in [*threads, watcher])
    assert len(claimed) == len(set(claimed)), "an execution was claimed twice"
    assert len(claimed) > limit, "the claimers should have churned through the limit"
    assert max(seen) <= limit, f"live attempts reached {max(seen)} with a limit of {limit}"
    # And topping up from here fills the limit exactly, not one more.
    while _claim(store, "top-up", global_limit) is not None:
        pass
    with _engine(database_url) as engine:
        assert _count_live(engine, kind) == limit


def test_given_limited_queues_and_apps_when_eight_claimers_race_then_no_claim_fails(  # noqa: C901 -- the race reads best in one place
    store: Store, database_url: str, request: pytest.FixtureRequest
) -> None:
    # Given two queues and two apps, each limited to 2, and work spread over all four pairs.
    for app in ("a1", "a2"):
        store.create_app(app, "img:1", max_concurrent_executions=2)
        store.create_job_definition(app, "work", ["work"])
    for queue in ("q1", "q2"):
        store.create_queue(queue, max_concurrent_executions=2)
    claimers, rounds = 8, 80
    for n in range(claimers * rounds + 10):
        store.enqueue(("a1", "a2")[n % 2], "work", ("q1", "q2")[(n // 2) % 2], n)
    start = threading.Barrier(claimers)
    failed = threading.Event()
    errors: list[BaseException] = []
    most: dict[str, int] = {}
    lock = threading.Lock()

    def claimer(worker: str) -> None:
        own = Store(database_url)
        held: list[Claim] = []
        try:
            with _engine(database_url) as engine:
                start.wait(timeout=30)
                for _ in range(rounds):
                    if failed.is_set():
                        return
                    claim = own.claim(worker, LEASE)
                    if claim is not None:
                        held.append(claim)
                        counts = _count_live_by_name(engine)
                        with lock:
                            for name, count in counts.items():
                                most[name] = max(most.get(name, 0), count)
                    if held and (claim is None or len(held) >= 2):
                        assert own.record_outcome(held.pop(0).attempt_id, _outcome())
        except BaseException as exc:
            errors.append(exc)
            failed.set()
        finally:
            own.close()

    # When eight claimers claim and end work as fast as they can.
    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # Then no claim failed, and no queue or app ever had more than 2 live attempts.
    assert not any(thread.is_alive() for thread in threads)
    assert [repr(error)[:200] for error in errors] == []
    assert most, "nothing was claimed"
    assert max(most.values()) <= 2, most


def _count_live_by_name(engine: sa.Engine) -> dict[str, int]:
    """Live attempts per queue and per app (one dict: queue and app names differ)."""
    e = job_executions.c
    live = attempts.c.state.in_([state.value for state in LIVE_STATES])
    joined = attempts.join(job_executions, e.id == attempts.c.execution_id)
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for column in (e.queue, e.application):
            query = (
                sa.select(column, sa.func.count()).select_from(joined).where(live).group_by(column)
            )
            counts.update({name: int(count) for name, count in conn.execute(query).all()})
    return counts


# -- pending reasons ------------------------------------------------------------------------------


def test_given_a_delayed_execution_then_the_reason_says_until_when(
    clocked_store: Store, clock: ManualClock
) -> None:
    # Given an execution delayed by a minute, and a live worker serving everything.
    _limited(clocked_store, "queue", None)
    clocked_store.heartbeat("w", "host", "engine", None)
    execution = clocked_store.enqueue("shop", "work", "q", {}, delay_seconds=60)
    due = clock.now + timedelta(seconds=60)

    # Then the reason is the delay, with the ISO time it becomes due.
    assert _reason(clocked_store, execution) == f"delayed until {due.isoformat()}"
    assert execution.run_after == due

    # And once due, the delay is no longer the reason.
    clock.advance(60)
    clocked_store.heartbeat("w", "host", "engine", None)
    reason = _reason(clocked_store, execution)
    assert reason is not None
    assert not reason.startswith("delayed")


def test_given_a_live_claim_then_the_reason_names_the_worker_until_the_lease_ends(
    clocked_store: Store, clock: ManualClock
) -> None:
    # Given an execution claimed by worker-x, not started yet.
    _limited(clocked_store, "queue", None)
    execution = clocked_store.enqueue("shop", "work", "q", {})
    _claim_ok(clocked_store, "worker-x")
    clocked_store.heartbeat("worker-y", "host", "engine", None)

    # Then the reason names worker-x, to the last instant of its lease.
    assert _reason(clocked_store, execution) == "being started by worker worker-x"
    clock.advance(LEASE)
    clocked_store.heartbeat("worker-y", "host", "engine", None)
    assert _reason(clocked_store, execution) == "being started by worker worker-x"

    # And once the lease ran out, it says the claim lapsed and will be taken over.
    clock.advance(0.001)
    reason = _reason(clocked_store, execution)
    assert reason is not None
    assert "being started" not in reason
    assert "takes it over" in reason


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("queue", "queue 'q' is at its limit of 2"),
        ("app", "app 'shop' is at its limit of 2"),
        ("global", "pitmaster is at its global limit of 2"),
    ],
)
def test_given_a_full_limit_then_the_reason_names_the_limit_until_a_slot_frees(
    clocked_store: Store, kind: str, expected: str
) -> None:
    # Given a limit of 2, reached (one running, one claimed), and a live worker.
    global_limit = _limited(clocked_store, kind, 2)
    clocked_store.heartbeat("w", "host", "engine", None)
    first, second, waiting = _enqueue(clocked_store, 3)
    running = _claim_ok(clocked_store, "w", global_limit)
    _run(clocked_store, running)
    claimed = _claim_ok(clocked_store, "w", global_limit)
    assert (running.execution.id, claimed.execution.id) == (first.id, second.id)

    # Then the waiting one's reason names the limit.
    assert _reason(clocked_store, waiting, global_limit) == expected

    # When the running one ends, then the limit is no longer the reason.
    assert clocked_store.record_outcome(running.attempt_id, _outcome())
    reason = _reason(clocked_store, waiting, global_limit)
    assert reason is not None
    assert "limit" not in reason


def test_given_no_live_worker_for_the_queue_then_the_reason_says_so(
    clocked_store: Store, clock: ManualClock
) -> None:
    # Given a runnable execution in queue 'x' and no heartbeat at all.
    store = clocked_store
    _limited(store, "queue", None)
    store.create_queue("x")
    store.create_queue("y")
    execution = store.enqueue("shop", "work", "x", {})
    nobody = "no worker is serving queue 'x'"
    assert _reason(store, execution) == nobody

    # A worker whose heartbeat is older than worker_alive_seconds does not count.
    store.heartbeat("old", "host", "engine", None)
    clock.advance(ALIVE + 0.001)
    assert _reason(store, execution) == nobody

    # Nor do live workers that serve only other queues.
    store.heartbeat("y-only", "host", "engine", ["y"])
    store.heartbeat("q-and-y", "host", "engine", ["q", "y"])
    assert _reason(store, execution) == nobody

    # When a live worker serves 'x', the reason becomes something else.
    store.heartbeat("x-too", "host", "engine", ["y", "x"])
    serving = _reason(store, execution)
    assert serving is not None
    assert serving != nobody
    assert "no worker" not in serving


def test_given_a_worker_serving_every_queue_within_its_alive_window_then_it_counts(
    clocked_store: Store, clock: ManualClock
) -> None:
    # Given a heartbeat of a worker that serves all queues (queues None).
    _limited(clocked_store, "queue", None)
    execution = clocked_store.enqueue("shop", "work", "q", {})
    clocked_store.heartbeat("all", "host", "engine", None)

    # When less than worker_alive_seconds have passed, then it is serving.
    clock.advance(ALIVE - 1)
    alive_reason = _reason(clocked_store, execution)
    assert alive_reason is not None
    assert "no worker" not in alive_reason

    # When more have passed, then it is not.
    clock.advance(1.001)
    assert _reason(clocked_store, execution) == "no worker is serving queue 'q'"


def test_given_a_non_pending_execution_then_it_has_no_pending_reason(store: Store) -> None:
    # Given one running and one ended execution.
    _limited(store, "queue", None)
    running_execution, ended_execution = _enqueue(store, 2)
    running = _claim_ok(store)
    ended = _claim_ok(store)
    _run(store, running)
    assert store.record_outcome(ended.attempt_id, _outcome(Status.FAILED))

    # Then neither has a pending reason.
    assert _status(store, running_execution) is Status.RUNNING
    assert _status(store, ended_execution) is Status.FAILED
    assert _reason(store, running_execution) is None
    assert _reason(store, ended_execution) is None


def test_given_an_expired_claim_filling_its_queue_then_the_reason_is_not_the_limit(
    clocked_store: Store, clock: ManualClock
) -> None:
    # Given queue 'q' with a limit of 1, filled by a claim whose worker died; a live worker.
    _limited(clocked_store, "queue", 1)
    (execution,) = _enqueue(clocked_store, 1)
    _claim_ok(clocked_store, "dead-worker")
    clock.advance(LEASE + 1)
    clocked_store.heartbeat("alive", "host", "engine", None)

    # When asked why it waits.
    reason = _reason(clocked_store, execution)

    # Then it is not "the queue is full": the next claim takes it over at once.
    assert reason is not None
    assert "limit" not in reason, reason
    assert _claim(clocked_store, "alive") is not None


# -- heartbeats -------------------------------------------------------------------------------------


def test_given_a_new_worker_when_it_beats_twice_then_one_row_keeps_started_and_moves_last_seen(
    clocked_store: Store, clock: ManualClock
) -> None:
    # Given no workers.
    assert clocked_store.list_workers() == []
    started = clock.now

    # When a worker beats, then beats again 5 s later with other details.
    clocked_store.heartbeat("w1", "host-a", "engine-a", ["q", "b"])
    (first,) = clocked_store.list_workers()
    clock.advance(5)
    clocked_store.heartbeat("w1", "host-b", "engine-b", None)

    # Then the first beat inserted it ...
    assert (first.id, first.host, first.engine, first.queues) == (
        "w1",
        "host-a",
        "engine-a",
        ("q", "b"),
    )
    assert first.started_at == first.last_seen_at == started
    # ... and the second updated it: started_at kept, last_seen_at moved, details replaced.
    (second,) = clocked_store.list_workers()
    assert (second.id, second.host, second.engine, second.queues) == (
        "w1",
        "host-b",
        "engine-b",
        None,
    )
    assert second.started_at == started
    assert second.last_seen_at == started + timedelta(seconds=5)
    assert second.running == 0


def test_given_workers_with_attempts_then_each_reports_how_many_it_runs(store: Store) -> None:
    # Given two workers; w1 runs two attempts and holds one claim, w2 runs one.
    _limited(store, "queue", None)
    _enqueue(store, 5)
    store.heartbeat("w1", "host", "engine", None)
    store.heartbeat("w2", "host", "engine", ["q"])
    w1_runs = [_claim_ok(store, "w1"), _claim_ok(store, "w1")]
    _claim_ok(store, "w1")  # claimed, never started: not running
    w2_run = _claim_ok(store, "w2")
    for claim in [*w1_runs, w2_run]:
        _run(store, claim)

    # Then the running counts are per worker and count only running attempts.
    assert [(w.id, w.running) for w in store.list_workers()] == [("w1", 2), ("w2", 1)]

    # When one of w1's attempts ends, then w1 runs one.
    assert store.record_outcome(w1_runs[0].attempt_id, _outcome())
    assert [(w.id, w.running) for w in store.list_workers()] == [("w1", 1), ("w2", 1)]


def test_given_two_workers_when_one_is_removed_then_only_the_other_is_listed(
    store: Store,
) -> None:
    store.heartbeat("w1", "host", "engine", None)
    store.heartbeat("w2", "host", None, ["q"])

    store.remove_worker("w1")
    store.remove_worker("never-seen")  # forgetting an unknown worker is harmless

    assert [(w.id, w.engine, w.queues) for w in store.list_workers()] == [("w2", None, ("q",))]


def test_given_a_worker_unseen_for_a_day_when_another_beats_then_it_is_pruned(
    clocked_store: Store, clock: ManualClock
) -> None:
    # Given a worker seen a day and a second ago, and one seen 23 hours ago.
    clocked_store.heartbeat("gone", "host", "engine", None)
    clock.advance(3600)
    clocked_store.heartbeat("quiet", "host", "engine", None)
    clock.advance(23 * 3600 + 1)
    assert [w.id for w in clocked_store.list_workers()] == ["gone", "quiet"]

    # When any worker beats.
    clocked_store.heartbeat("fresh", "host", "engine", None)

    # Then the one unseen for over a day is forgotten; the others stay.
    assert [w.id for w in clocked_store.list_workers()] == ["fresh", "quiet"]
