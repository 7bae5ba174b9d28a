"""The store on SQLite: management CRUD, enqueue, claims and leases, compare-and-set changes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pitmaster.errors import Conflict, InvalidInput, NotFound
from pitmaster.models import (
    DEFAULT_QUEUE,
    AttemptState,
    Claim,
    ExecutionFilter,
    MarkResult,
    Outcome,
    Status,
)
from pitmaster.store.store import Store

if TYPE_CHECKING:
    from tests.conftest import ManualClock

LEASE = 30.0


def _define(store: Store, app: str = "shop", job: str = "mail", image: str = "shop:1") -> None:
    store.create_app(app, image)
    store.create_job_definition(app, job, ["ruby", "mail.rb"])


def _outcome(status: Status = Status.SUCCESS, exit_code: int | None = 0) -> Outcome:
    return Outcome(
        status=status,
        reason=f"exited {exit_code}",
        exit_code=exit_code,
        finished_at=datetime(2026, 3, 1, 13, 0, tzinfo=UTC),
        stdout="out",
        stderr="err",
    )


def _all_executions(store: Store) -> list[int]:
    return [e.id for e in store.list_executions(ExecutionFilter(), limit=500).items]


# -- apps -------------------------------------------------------------------------


def test_given_an_app_when_created_then_it_reads_back_and_lists(store: Store) -> None:
    created = store.create_app("shop", "shop:1", "the shop")

    fetched = store.get_app("shop")
    assert fetched == created
    assert (fetched.name, fetched.docker_image, fetched.description) == (
        "shop",
        "shop:1",
        "the shop",
    )
    assert [app.name for app in store.list_apps()] == ["shop"]


def test_given_an_app_when_created_twice_then_conflict_names_it(store: Store) -> None:
    store.create_app("shop", "shop:1")

    with pytest.raises(Conflict, match="'shop' already exists"):
        store.create_app("shop", "shop:2")

    assert store.get_app("shop").docker_image == "shop:1"


def test_given_an_app_when_updated_then_changes_stick(store: Store) -> None:
    store.create_app("shop", "shop:1")

    updated = store.update_app("shop", {"docker_image": "shop:2", "description": "new"})

    assert (updated.docker_image, updated.description) == ("shop:2", "new")
    assert store.get_app("shop").docker_image == "shop:2"


def test_given_no_app_when_read_updated_or_deleted_then_not_found_names_it(store: Store) -> None:
    with pytest.raises(NotFound, match="app 'ghost' does not exist"):
        store.get_app("ghost")
    with pytest.raises(NotFound, match="app 'ghost' does not exist"):
        store.update_app("ghost", {"description": "x"})
    with pytest.raises(NotFound, match="app 'ghost' does not exist"):
        store.delete_app("ghost")


def test_given_an_app_with_jobs_when_deleted_then_its_definitions_go_too(store: Store) -> None:
    _define(store)

    store.delete_app("shop")

    assert store.list_apps() == []
    with pytest.raises(NotFound, match="app 'shop'"):
        store.get_job_definition("shop", "mail")


# -- job definitions ----------------------------------------------------------------


def test_given_a_job_definition_when_created_then_it_reads_back(store: Store) -> None:
    store.create_app("shop", "shop:1")

    created = store.create_job_definition("shop", "mail", ["ruby", "mail.rb"], "sends mail")

    fetched = store.get_job_definition("shop", "mail")
    assert fetched == created
    assert (fetched.app, fetched.job, fetched.command) == ("shop", "mail", ("ruby", "mail.rb"))
    assert [d.job for d in store.list_job_definitions("shop")] == ["mail"]


def test_given_a_job_definition_when_created_twice_then_conflict(store: Store) -> None:
    _define(store)

    with pytest.raises(Conflict, match="shop/mail already exists"):
        store.create_job_definition("shop", "mail", ["other"])

    assert store.get_job_definition("shop", "mail").command == ("ruby", "mail.rb")


def test_given_no_app_when_defining_a_job_then_not_found_names_the_app(store: Store) -> None:
    with pytest.raises(NotFound, match="app 'ghost' does not exist"):
        store.create_job_definition("ghost", "mail", ["x"])
    with pytest.raises(NotFound, match="app 'ghost' does not exist"):
        store.list_job_definitions("ghost")


def test_given_an_app_without_the_job_when_read_then_not_found_names_the_job(
    store: Store,
) -> None:
    store.create_app("shop", "shop:1")

    with pytest.raises(NotFound, match="job definition shop/mail does not exist"):
        store.get_job_definition("shop", "mail")
    with pytest.raises(NotFound, match="shop/mail"):
        store.delete_job_definition("shop", "mail")


def test_given_a_job_definition_when_updated_then_the_command_changes(store: Store) -> None:
    _define(store)

    updated = store.update_job_definition("shop", "mail", {"command": ["python", "-V"]})

    assert updated.command == ("python", "-V")
    assert store.get_job_definition("shop", "mail").command == ("python", "-V")


def test_given_a_job_definition_when_deleted_then_it_is_gone(store: Store) -> None:
    _define(store)

    store.delete_job_definition("shop", "mail")

    assert store.list_job_definitions("shop") == []


# -- queues -----------------------------------------------------------------------


def test_given_a_fresh_store_then_the_default_queue_exists(store: Store) -> None:
    assert [queue.name for queue in store.list_queues()] == [DEFAULT_QUEUE]
    assert store.get_queue(DEFAULT_QUEUE).name == DEFAULT_QUEUE


def test_given_a_migrated_store_when_migrated_again_then_nothing_doubles(store: Store) -> None:
    store.migrate()

    assert [queue.name for queue in store.list_queues()] == [DEFAULT_QUEUE]


def test_given_a_queue_when_created_updated_and_deleted_then_each_step_shows(
    store: Store,
) -> None:
    store.create_queue("batch", "slow work")
    assert store.get_queue("batch").description == "slow work"

    store.update_queue("batch", {"description": "slower"})
    assert store.get_queue("batch").description == "slower"

    store.delete_queue("batch")
    assert [queue.name for queue in store.list_queues()] == [DEFAULT_QUEUE]


def test_given_a_queue_when_created_twice_then_conflict(store: Store) -> None:
    with pytest.raises(Conflict, match="job queue 'default' already exists"):
        store.create_queue(DEFAULT_QUEUE)


def test_given_no_queue_when_read_or_deleted_then_not_found_names_it(store: Store) -> None:
    with pytest.raises(NotFound, match="job queue 'ghost' does not exist"):
        store.get_queue("ghost")
    with pytest.raises(NotFound, match="job queue 'ghost' does not exist"):
        store.update_queue("ghost", {"description": "x"})
    with pytest.raises(NotFound, match="job queue 'ghost' does not exist"):
        store.delete_queue("ghost")


def test_given_the_default_queue_when_deleted_then_conflict_and_it_stays(store: Store) -> None:
    with pytest.raises(Conflict, match="cannot be deleted"):
        store.delete_queue(DEFAULT_QUEUE)

    assert store.get_queue(DEFAULT_QUEUE).name == DEFAULT_QUEUE


@pytest.mark.parametrize("active", [Status.PENDING, Status.RUNNING])
def test_given_a_queue_with_active_work_when_deleted_then_conflict_until_it_ends(
    store: Store, active: Status
) -> None:
    _define(store)
    store.create_queue("batch")
    execution = store.enqueue("shop", "mail", "batch", {})
    claim = store.claim("w", LEASE)
    assert claim is not None
    if active is Status.RUNNING:
        assert (
            store.mark_running(claim.attempt_id, "c1", "engine", datetime.now(UTC))
            is MarkResult.RUNNING
        )
    assert store.get_execution(execution.message_id).status is active

    with pytest.raises(Conflict, match="'batch' has 1 pending or running"):
        store.delete_queue("batch")
    assert store.get_queue("batch").name == "batch"

    assert store.record_outcome(claim.attempt_id, _outcome())
    store.delete_queue("batch")
    with pytest.raises(NotFound):
        store.get_queue("batch")


# -- enqueue ------------------------------------------------------------------------


def test_given_a_defined_job_when_enqueued_then_a_pending_execution_is_stored(
    store: Store,
) -> None:
    _define(store)

    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {"to": "a@example.com"})

    fetched = store.get_execution(execution.message_id)
    assert fetched == execution
    assert fetched.status is Status.PENDING
    assert (fetched.application, fetched.job, fetched.queue) == ("shop", "mail", DEFAULT_QUEUE)
    assert fetched.message == {"to": "a@example.com"}
    assert store.get_execution(str(execution.id)) == execution
    assert [a.state for a in store.attempts_of(execution.id)] == [AttemptState.QUEUED]


def test_given_two_enqueues_then_message_ids_differ(store: Store) -> None:
    _define(store)

    first = store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    second = store.enqueue("shop", "mail", DEFAULT_QUEUE, None)

    assert first.message_id != second.message_id
    assert first.id != second.id


@pytest.mark.parametrize(
    ("application", "job", "queue", "problem"),
    [
        ("ghost", "mail", DEFAULT_QUEUE, "application 'ghost' does not exist"),
        ("shop", "ghost", DEFAULT_QUEUE, "job 'ghost' is not defined for application 'shop'"),
        ("shop", "mail", "ghost", "job queue 'ghost' does not exist"),
    ],
)
def test_given_an_unknown_target_when_enqueued_then_not_found_and_nothing_stored(
    store: Store, application: str, job: str, queue: str, problem: str
) -> None:
    _define(store)

    with pytest.raises(NotFound, match=problem):
        store.enqueue(application, job, queue, {})

    assert _all_executions(store) == []


def test_given_a_job_of_another_app_when_enqueued_then_not_found(store: Store) -> None:
    _define(store, app="shop", job="mail")
    store.create_app("blog", "blog:1")

    with pytest.raises(NotFound, match="job 'mail' is not defined for application 'blog'"):
        store.enqueue("blog", "mail", DEFAULT_QUEUE, {})


def test_given_a_negative_delay_when_enqueued_then_invalid_and_nothing_stored(
    store: Store,
) -> None:
    _define(store)

    with pytest.raises(InvalidInput, match="delay_seconds"):
        store.enqueue("shop", "mail", DEFAULT_QUEUE, {}, delay_seconds=-1)

    assert _all_executions(store) == []


@pytest.mark.parametrize("delay", [float("nan"), float("inf"), 1e12], ids=["nan", "inf", "huge"])
def test_given_a_non_finite_or_huge_delay_when_enqueued_then_invalid_and_nothing_stored(
    store: Store, delay: float
) -> None:
    _define(store)

    with pytest.raises(InvalidInput, match="delay_seconds"):
        store.enqueue("shop", "mail", DEFAULT_QUEUE, {}, delay_seconds=delay)

    assert _all_executions(store) == []


@pytest.mark.parametrize(
    "message",
    [
        "héllo wörld — 日本語 🍖 \u0000 end",
        {"emoji": "🔥🍖", "nested": ["ß", {"ключ": "значение"}], "rtl": "שלום", "n": 1.5},
        ["\ud7ff", "\ue000", "\U0010ffff", "tab\tnew\nline", 'quote"back\\slash'],
        None,
        0,
        True,
        "",
    ],
)
def test_given_any_json_message_when_stored_then_it_reads_back_exactly(
    store: Store, message: object
) -> None:
    _define(store)

    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, message)

    fetched = store.get_execution(execution.message_id).message
    assert fetched == message
    assert type(fetched) is type(message)


def test_given_no_execution_when_read_then_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="job execution 'nope' does not exist"):
        store.get_execution("nope")
    with pytest.raises(NotFound, match="job execution '42' does not exist"):
        store.get_execution("42")


def test_given_an_id_beyond_64_bits_when_read_then_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        store.get_execution("9" * 30)


def test_given_a_superscript_digit_reference_when_read_then_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.get_execution("²")


# -- claims, delays, leases ------------------------------------------------------------


def test_given_a_delay_when_claiming_then_unclaimable_until_its_time(
    clocked_store: Store, clock: ManualClock
) -> None:
    _define(clocked_store)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, {}, delay_seconds=10)
    assert execution.run_after == clock.now + timedelta(seconds=10)

    clock.advance(9.999)
    assert clocked_store.claim("w", LEASE) is None

    clock.advance(0.001)
    claim = clocked_store.claim("w", LEASE)
    assert claim is not None
    assert claim.execution.id == execution.id


def test_given_several_pending_when_claiming_then_oldest_runnable_first(
    clocked_store: Store, clock: ManualClock
) -> None:
    _define(clocked_store)
    delayed = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "delayed", delay_seconds=5)
    clock.advance(1)
    first = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "first")
    clock.advance(1)
    second = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "second")
    third = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "third")  # same instant

    claimed = [clocked_store.claim("w", LEASE) for _ in range(4)]

    assert [c.execution.id if c else None for c in claimed] == [
        first.id,
        second.id,
        third.id,
        None,
    ]
    clock.advance(3)  # now the delayed one is due
    late = clocked_store.claim("w", LEASE)
    assert late is not None
    assert late.execution.id == delayed.id


def test_given_a_claim_then_it_carries_image_command_and_a_first_attempt(
    store: Store,
) -> None:
    _define(store, image="shop:7")
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {"a": 1})

    claim = store.claim("worker-a", LEASE)

    assert claim is not None
    assert claim.execution.id == execution.id
    assert (claim.docker_image, claim.command) == ("shop:7", ("ruby", "mail.rb"))
    assert claim.attempt_number == 0
    assert claim.container_name == f"pitmaster-{store.installation_id()}-{claim.attempt_id}"
    (attempt,) = store.attempts_of(execution.id)
    assert (attempt.id, attempt.state, attempt.worker_id) == (
        claim.attempt_id,
        AttemptState.STARTING,
        "worker-a",
    )
    assert store.get_execution(execution.message_id).status is Status.PENDING


def test_given_two_databases_then_their_containers_never_share_a_name(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    # Given a second Store on the same file, and a second database elsewhere.
    same = Store(database_url)
    other = Store(f"sqlite:///{tmp_path}/other/pitmaster.db")
    other.migrate()
    try:
        for each in (store, other):
            _define(each)
            each.enqueue("shop", "mail", DEFAULT_QUEUE, {})
        # When each database hands out its first attempt (both attempt id 1).
        mine, theirs = store.claim("w", LEASE), other.claim("w", LEASE)
        assert mine is not None
        assert theirs is not None
        assert mine.attempt_id == theirs.attempt_id
        # Then the names differ, and one database always gives the same identity.
        assert mine.container_name != theirs.container_name
        assert same.installation_id() == store.installation_id() != other.installation_id()
    finally:
        same.close()
        other.close()


def test_given_one_pending_when_claimed_twice_then_the_second_gets_nothing(
    store: Store,
) -> None:
    _define(store)
    store.enqueue("shop", "mail", DEFAULT_QUEUE, {})

    assert store.claim("a", LEASE) is not None
    assert store.claim("b", LEASE) is None


def test_given_many_pending_when_threads_claim_concurrently_then_no_duplicates(
    store: Store, database_url: str
) -> None:
    _define(store)
    enqueued = {store.enqueue("shop", "mail", DEFAULT_QUEUE, {"n": n}).id for n in range(40)}
    claims: list[Claim] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)
    lock = threading.Lock()

    def claim_all(worker: str) -> None:
        # Each thread has its own engine on the one file, like separate worker processes.
        own = Store(database_url)
        try:
            start.wait(timeout=10)
            while (claim := own.claim(worker, LEASE)) is not None:
                with lock:
                    claims.append(claim)
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=claim_all, args=(f"w{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    claimed_ids = [claim.execution.id for claim in claims]
    assert len(claimed_ids) == len(set(claimed_ids)), "an execution was claimed twice"
    assert set(claimed_ids) == enqueued
    assert len({claim.attempt_id for claim in claims}) == len(enqueued)


def test_given_an_expired_lease_when_claimed_again_then_same_attempt_id(
    clocked_store: Store, clock: ManualClock
) -> None:
    _define(clocked_store)
    execution = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    first = clocked_store.claim("dead-worker", LEASE)
    assert first is not None

    clock.advance(LEASE)  # the lease is not over until strictly after its end
    assert clocked_store.claim("rescuer", LEASE) is None

    clock.advance(0.001)
    second = clocked_store.claim("rescuer", LEASE)

    assert second is not None
    assert second.execution.id == execution.id
    assert second.attempt_id == first.attempt_id
    assert second.container_name == first.container_name
    assert second.attempt_number == first.attempt_number == 0
    (attempt,) = clocked_store.attempts_of(execution.id)
    assert attempt.worker_id == "rescuer"


def test_given_a_released_claim_when_claimed_again_then_same_attempt_long_before_the_lease(
    clocked_store: Store, clock: ManualClock
) -> None:
    _define(clocked_store)
    clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    first = clocked_store.claim("a", LEASE)
    assert first is not None

    clocked_store.release_claim(first.execution.id)
    clock.advance(0.001)  # a thousandth of a second, against a 30 s lease
    second = clocked_store.claim("b", LEASE)

    assert second is not None
    assert second.attempt_id == first.attempt_id


def test_given_a_running_execution_when_its_lease_would_expire_then_not_reclaimed(
    clocked_store: Store, clock: ManualClock
) -> None:
    _define(clocked_store)
    clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    claim = clocked_store.claim("a", LEASE)
    assert claim is not None
    assert (
        clocked_store.mark_running(claim.attempt_id, "c1", "engine", clock.now)
        is MarkResult.RUNNING
    )

    clock.advance(LEASE * 10)

    assert clocked_store.claim("b", LEASE) is None


def test_given_a_deleted_job_definition_when_claimed_then_claim_has_no_image(
    store: Store,
) -> None:
    _define(store)
    store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    store.delete_job_definition("shop", "mail")

    claim = store.claim("w", LEASE)

    assert claim is not None
    assert (claim.docker_image, claim.command) == (None, None)


# -- compare-and-set state changes ---------------------------------------------------


def _claimed(store: Store) -> Claim:
    _define(store)
    store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    claim = store.claim("w", LEASE)
    assert claim is not None
    return claim


def test_given_a_starting_attempt_when_marked_running_twice_then_only_first_counts(
    store: Store,
) -> None:
    claim = _claimed(store)
    started = datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)

    assert (
        store.mark_running(claim.attempt_id, "container-1", "engine-a", started)
        is MarkResult.RUNNING
    )
    assert (
        store.mark_running(
            claim.attempt_id, "container-2", "engine-b", started + timedelta(seconds=5)
        )
        is MarkResult.ALREADY_RUNNING
    )

    (attempt,) = store.attempts_of(claim.execution.id)
    assert (attempt.state, attempt.container_id, attempt.engine_id, attempt.started_at) == (
        AttemptState.RUNNING,
        "container-1",
        "engine-a",
        started,
    )
    execution = store.get_execution(claim.execution.message_id)
    assert (execution.status, execution.started_at) == (Status.RUNNING, started)


def test_given_a_running_attempt_when_recorded_twice_then_only_first_counts(
    store: Store,
) -> None:
    claim = _claimed(store)
    assert (
        store.mark_running(claim.attempt_id, "c1", "engine", datetime.now(UTC))
        is MarkResult.RUNNING
    )
    first = _outcome(Status.FAILED, 3)
    second = Outcome(
        status=Status.SUCCESS,
        reason="exited 0",
        exit_code=0,
        finished_at=None,
        stdout="other",
        stderr="other",
    )

    assert store.record_outcome(claim.attempt_id, first) is True
    assert store.record_outcome(claim.attempt_id, second) is False

    execution = store.get_execution(claim.execution.message_id)
    assert (execution.status, execution.reason, execution.exit_code, execution.finished_at) == (
        Status.FAILED,
        "exited 3",
        3,
        first.finished_at,
    )
    (attempt,) = store.attempts_of(claim.execution.id)
    assert (attempt.state, attempt.status, attempt.stdout, attempt.stderr) == (
        AttemptState.ENDED,
        Status.FAILED,
        "out",
        "err",
    )


def test_given_an_ended_attempt_when_marked_running_then_refused(store: Store) -> None:
    claim = _claimed(store)
    assert store.record_outcome(claim.attempt_id, _outcome(Status.ERROR, None))

    assert (
        store.mark_running(claim.attempt_id, "late", "engine", datetime.now(UTC))
        is MarkResult.ENDED
    )

    assert store.get_execution(claim.execution.message_id).status is Status.ERROR
    assert store.running_attempts("engine") == []


def test_given_running_attempts_then_listed_per_engine_until_recorded(store: Store) -> None:
    claim = _claimed(store)
    assert (
        store.mark_running(claim.attempt_id, "c1", "engine-a", datetime.now(UTC))
        is MarkResult.RUNNING
    )

    (running,) = store.running_attempts("engine-a")
    assert (running.attempt_id, running.container_id, running.message_id) == (
        claim.attempt_id,
        "c1",
        claim.execution.message_id,
    )
    assert store.running_attempts("engine-b") == []

    assert store.record_outcome(claim.attempt_id, _outcome())
    assert store.running_attempts("engine-a") == []


# -- listing ---------------------------------------------------------------------------


def test_given_executions_when_listed_then_newest_first_paged_by_cursor(store: Store) -> None:
    _define(store)
    ids = [store.enqueue("shop", "mail", DEFAULT_QUEUE, n).id for n in range(5)]

    pages: list[list[int]] = []
    cursor: str | None = None
    while True:
        page = store.list_executions(ExecutionFilter(), cursor=cursor, limit=2)
        pages.append([execution.id for execution in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break

    newest_first = list(reversed(ids))
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]


def test_given_exactly_a_page_when_listed_then_no_next_cursor(store: Store) -> None:
    _define(store)
    for n in range(3):
        store.enqueue("shop", "mail", DEFAULT_QUEUE, n)

    page = store.list_executions(ExecutionFilter(), limit=3)

    assert len(page.items) == 3
    assert page.next_cursor is None


def test_given_mixed_executions_when_filtered_then_only_matches(store: Store) -> None:
    _define(store, app="shop", job="mail")
    store.create_job_definition("shop", "bill", ["bill"])
    _define(store, app="blog", job="mail", image="blog:1")
    store.create_queue("batch")
    shop_mail = store.enqueue("shop", "mail", DEFAULT_QUEUE, 1)
    shop_bill = store.enqueue("shop", "bill", "batch", 2)
    blog_mail = store.enqueue("blog", "mail", "batch", 3)
    claim = store.claim("w", LEASE)  # takes shop_mail, the oldest
    assert claim is not None
    assert store.record_outcome(claim.attempt_id, _outcome(Status.FAILED, 1))

    def ids(where: ExecutionFilter) -> list[int]:
        return [e.id for e in store.list_executions(where).items]

    assert ids(ExecutionFilter(application="shop")) == [shop_bill.id, shop_mail.id]
    assert ids(ExecutionFilter(job="mail")) == [blog_mail.id, shop_mail.id]
    assert ids(ExecutionFilter(application="shop", job="bill")) == [shop_bill.id]
    assert ids(ExecutionFilter(queue="batch")) == [blog_mail.id, shop_bill.id]
    assert ids(ExecutionFilter(status=Status.FAILED)) == [shop_mail.id]
    assert ids(ExecutionFilter(status=Status.PENDING)) == [blog_mail.id, shop_bill.id]
    assert ids(ExecutionFilter(application="ghost")) == []


def test_given_a_foreign_cursor_when_listing_then_invalid_input(store: Store) -> None:
    with pytest.raises(InvalidInput, match="cursor 'abc'"):
        store.list_executions(ExecutionFilter(), cursor="abc")


def test_given_a_cursor_beyond_64_bits_when_listing_then_invalid_input(store: Store) -> None:
    with pytest.raises(InvalidInput, match="cursor"):
        store.list_executions(ExecutionFilter(), cursor="9" * 30)


def test_given_a_superscript_digit_cursor_when_listing_then_invalid_input(store: Store) -> None:
    with pytest.raises(InvalidInput, match="cursor"):
        store.list_executions(ExecutionFilter(), cursor="²")


def test_given_a_zero_limit_when_listing_then_no_crash(store: Store) -> None:
    _define(store)
    store.enqueue("shop", "mail", DEFAULT_QUEUE, {})

    try:
        page = store.list_executions(ExecutionFilter(), limit=0)
    except InvalidInput:
        return
    assert page.items == []


# -- heartbeats ----------------------------------------------------------------------------


def test_given_two_threads_of_a_new_worker_when_both_beat_at_once_then_neither_fails(
    store: Store,
) -> None:
    # A worker's identity check and its heartbeat loop both beat as it starts: each
    # may find no row to update, and both insert one.
    rounds, errors = 20, list[Exception]()

    def beat(worker_id: str, barrier: threading.Barrier) -> None:
        barrier.wait(timeout=10)
        try:
            store.heartbeat(worker_id, "host", "engine", None)
        except Exception as exc:  # any failure is what this test looks for
            errors.append(exc)

    for n in range(rounds):
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=beat, args=(f"w{n}", barrier)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert errors == []
    assert sorted(row.id for row in store.list_workers()) == sorted(f"w{n}" for n in range(rounds))


def test_given_executions_when_searched_by_a_message_id_prefix_then_exactly_those_are_listed(
    store: Store,
) -> None:
    # Given executions with message_ids of many first characters.
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    ids = [store.enqueue("shop", "mail", "default", {}).message_id for _ in range(40)]

    # When each is searched by prefixes of 1, 3 and 9 characters (the last takes its hyphen).
    for message_id in ids:
        for length in (1, 3, 9):
            prefix = message_id[:length]
            found = store.list_executions(ExecutionFilter(message_id_prefix=prefix), limit=100)

            # Then the list is every execution whose message_id starts so, and no other.
            assert sorted(e.message_id for e in found.items) == sorted(
                other for other in ids if other.startswith(prefix)
            )
