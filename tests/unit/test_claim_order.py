"""Which execution a claim takes: priority, then age; fair share between apps; aging; pauses.

Every test runs on SQLite and on PostgreSQL (the ``store`` fixtures).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from pitmaster.errors import Conflict, InvalidInput, NotFound
from pitmaster.models import (
    DEFAULT_QUEUE,
    MAX_PRIORITY,
    ORDER_BY_PRIORITY,
    Claim,
    ClaimOrder,
    MarkResult,
    Status,
)
from pitmaster.store.store import Store

if TYPE_CHECKING:
    from tests.conftest import ManualClock

LEASE = 30.0
FAIR = ClaimOrder(fair_share=True)


def _define(store: Store, app: str = "shop", job: str = "mail", **policy: Any) -> None:
    store.create_app(app, f"{app}:1")
    store.create_job_definition(app, job, ["run"], **policy)


def _claimed_ids(
    store: Store, count: int, order: ClaimOrder = ORDER_BY_PRIORITY
) -> list[int | None]:
    claims = [store.claim("w", LEASE, order=order) for _ in range(count)]
    return [claim.execution.id if claim else None for claim in claims]


def _apps_of(claims: list[Claim | None]) -> list[str | None]:
    return [claim.execution.application if claim else None for claim in claims]


# -- priority ---------------------------------------------------------------------------


def test_given_work_of_several_priorities_when_claiming_then_highest_first_then_oldest(
    clocked_store: Store, clock: ManualClock
) -> None:
    _define(clocked_store)
    low = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "low")
    clock.advance(1)
    high = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "high", priority=5)
    clock.advance(1)
    middle = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "middle", priority=2)
    clock.advance(1)
    later_high = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "high 2", priority=5)
    below = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "below", priority=-3)

    assert _claimed_ids(clocked_store, 6) == [
        high.id,
        later_high.id,
        middle.id,
        low.id,
        below.id,
        None,
    ]


def test_given_a_job_definition_priority_when_an_enqueue_names_none_then_it_is_taken(
    store: Store,
) -> None:
    _define(store, priority=7)

    defaulted = store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    named = store.enqueue("shop", "mail", DEFAULT_QUEUE, {}, priority=-2)

    assert (defaulted.priority, named.priority) == (7, -2)
    assert store.get_execution(defaulted.message_id).priority == 7
    assert store.get_job_definition("shop", "mail").priority == 7


def test_given_a_job_definition_priority_when_a_topic_delivers_to_it_then_it_is_taken(
    store: Store,
) -> None:
    _define(store, job="urgent", priority=3)
    store.create_job_definition("shop", "bulk", ["run"])
    store.create_topic("orders", "", ["shop"])
    store.subscribe("orders", "shop", "urgent", DEFAULT_QUEUE, None)
    store.subscribe("orders", "shop", "bulk", DEFAULT_QUEUE, None)

    published = store.publish("orders", {}, message_size=2)

    priorities = {d.job: store.get_execution(d.message_id).priority for d in published.deliveries}
    assert priorities == {"urgent": 3, "bulk": 0}


def test_given_no_priority_anywhere_when_enqueued_then_it_is_zero(store: Store) -> None:
    _define(store)

    assert store.enqueue("shop", "mail", DEFAULT_QUEUE, {}).priority == 0


@pytest.mark.parametrize("priority", [MAX_PRIORITY + 1, -MAX_PRIORITY - 1])
def test_given_a_priority_out_of_range_when_enqueued_then_refused_and_nothing_stored(
    store: Store, priority: int
) -> None:
    _define(store)

    with pytest.raises(InvalidInput, match="priority"):
        store.enqueue("shop", "mail", DEFAULT_QUEUE, {}, priority=priority)
    assert store.claim("w", LEASE) is None


def test_given_an_idempotency_key_when_replayed_with_another_priority_then_conflict(
    store: Store,
) -> None:
    _define(store)
    first = store.enqueue("shop", "mail", DEFAULT_QUEUE, {}, idempotency_key="k", priority=1)

    again = store.enqueue("shop", "mail", DEFAULT_QUEUE, {}, idempotency_key="k", priority=1)

    assert again.id == first.id
    with pytest.raises(Conflict, match="different request"):
        store.enqueue("shop", "mail", DEFAULT_QUEUE, {}, idempotency_key="k", priority=2)


# -- priority and limits ------------------------------------------------------------------


def test_given_urgent_work_over_its_queue_limit_when_claiming_then_other_work_is_taken(
    store: Store,
) -> None:
    _define(store)
    store.create_queue("urgent", max_concurrent_executions=1)
    store.enqueue("shop", "mail", "urgent", "runs", priority=9)
    blocked = store.enqueue("shop", "mail", "urgent", "over the limit", priority=9)
    bulk = store.enqueue("shop", "mail", DEFAULT_QUEUE, "bulk")

    first, second, third = (store.claim("w", LEASE) for _ in range(3))

    assert first is not None and first.execution.queue == "urgent"
    assert second is not None and second.execution.id == bulk.id
    assert third is None
    reason = store.pending_reason(store.get_execution(blocked.message_id), None, 60)
    assert reason == "queue 'urgent' is at its limit of 1"


def test_given_urgent_work_over_its_app_limit_when_claiming_then_other_apps_go_first(
    store: Store,
) -> None:
    _define(store, "shop")
    _define(store, "blog")
    store.update_app("shop", {"max_concurrent_executions": 1})
    store.enqueue("shop", "mail", DEFAULT_QUEUE, "runs", priority=9)
    store.enqueue("shop", "mail", DEFAULT_QUEUE, "over the limit", priority=9)
    blog = store.enqueue("blog", "mail", DEFAULT_QUEUE, "low")

    claims = [store.claim("w", LEASE) for _ in range(3)]

    assert _apps_of(claims) == ["shop", "blog", None]
    assert claims[1] is not None and claims[1].execution.id == blog.id


# -- fair share ---------------------------------------------------------------------------


def _burst_and_one(clocked_store: Store, clock: ManualClock, burst: int) -> int:
    """App bulk enqueues ``burst`` executions, then app lone enqueues one; its id."""
    _define(clocked_store, "bulk")
    _define(clocked_store, "lone")
    for n in range(burst):
        clocked_store.enqueue("bulk", "mail", DEFAULT_QUEUE, n)
    clock.advance(1)
    return clocked_store.enqueue("lone", "mail", DEFAULT_QUEUE, "mine").id


def test_given_one_app_with_500_waiting_and_another_with_1_when_fair_then_the_one_runs_early(
    clocked_store: Store, clock: ManualClock
) -> None:
    lone = _burst_and_one(clocked_store, clock, 500)
    clocked_store.claim("w", LEASE, order=FAIR)  # the burst's app has had its turn
    clock.advance(1)

    claimed = _claimed_ids(clocked_store, 3, FAIR)

    assert lone in claimed


def test_given_a_burst_and_one_when_not_fair_then_the_one_waits_behind_the_burst(
    clocked_store: Store, clock: ManualClock
) -> None:
    # The same as above without fair share: the order it changes is real.
    lone = _burst_and_one(clocked_store, clock, 20)

    claimed = _claimed_ids(clocked_store, 21)

    assert claimed[-1] == lone


def test_given_two_apps_with_work_when_fair_then_claims_alternate(
    clocked_store: Store, clock: ManualClock
) -> None:
    _define(clocked_store, "shop")
    _define(clocked_store, "blog")
    for n in range(4):
        clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, n)
    for n in range(4):
        clocked_store.enqueue("blog", "mail", DEFAULT_QUEUE, n)

    claims = []
    for _ in range(6):
        claims.append(clocked_store.claim("w", LEASE, order=FAIR))
        clock.advance(1)

    assert _apps_of(claims) == ["shop", "blog"] * 3


def test_given_fair_share_when_one_app_has_higher_priority_then_priority_still_goes_first(
    clocked_store: Store, clock: ManualClock
) -> None:
    _define(clocked_store, "shop")
    _define(clocked_store, "blog")
    clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "urgent", priority=1)
    clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "urgent", priority=1)
    clocked_store.enqueue("blog", "mail", DEFAULT_QUEUE, "bulk")

    claims = []
    for _ in range(3):
        claims.append(clocked_store.claim("w", LEASE, order=FAIR))
        clock.advance(1)

    assert _apps_of(claims) == ["shop", "shop", "blog"]


# -- aging ---------------------------------------------------------------------------------


def test_given_a_stream_of_urgent_work_when_low_work_waits_past_the_aging_bound_then_it_runs(
    clocked_store: Store, clock: ManualClock
) -> None:
    # Given low-priority work, then urgent work arriving faster than it is taken.
    aging = ClaimOrder(aging_seconds=60)
    _define(clocked_store)
    low = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "low")
    waited_when_claimed = None
    for second in range(0, 120, 10):
        clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "urgent", priority=MAX_PRIORITY)
        clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "urgent", priority=MAX_PRIORITY)
        # When one execution is claimed every 10 s.
        claim = clocked_store.claim("w", LEASE, order=aging)
        assert claim is not None
        if claim.execution.id == low.id:
            waited_when_claimed = second
            break
        clock.advance(10)

    # Then the low one goes as soon as it has waited 60 s, not before.
    assert waited_when_claimed == 60


def test_given_no_aging_when_urgent_work_keeps_coming_then_low_work_waits(
    clocked_store: Store, clock: ManualClock
) -> None:
    _define(clocked_store)
    low = clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "low")
    for _ in range(12):
        clocked_store.enqueue("shop", "mail", DEFAULT_QUEUE, "urgent", priority=1)
        clock.advance(10)
        claim = clocked_store.claim("w", LEASE)
        assert claim is not None
        assert claim.execution.id != low.id


# -- pausing -------------------------------------------------------------------------------


def test_given_a_paused_queue_when_claiming_then_nothing_of_it_starts_until_resumed(
    store: Store,
) -> None:
    _define(store)
    store.create_queue("reports")
    store.pause_queue("reports", "month end")
    # Enqueueing is still accepted.
    waiting = [store.enqueue("shop", "mail", "reports", n) for n in range(3)]
    elsewhere = store.enqueue("shop", "mail", DEFAULT_QUEUE, "other")

    assert _claimed_ids(store, 2) == [elsewhere.id, None]
    reason = store.pending_reason(store.get_execution(waiting[0].message_id), None, 60)
    assert reason == "queue 'reports' is paused: month end"
    assert store.get_queue("reports").pause_reason == "month end"

    resumed = store.resume_queue("reports")

    assert resumed.paused_at is None
    assert _claimed_ids(store, 4) == [e.id for e in waiting] + [None]


def test_given_a_paused_app_when_claiming_then_none_of_its_work_starts_in_any_queue(
    store: Store,
) -> None:
    _define(store, "shop")
    _define(store, "blog")
    store.create_queue("reports")
    paused = store.pause_app("shop")
    shop_reports = store.enqueue("shop", "mail", "reports", "r")
    shop_default = store.enqueue("shop", "mail", DEFAULT_QUEUE, "d", priority=5)
    blog = store.enqueue("blog", "mail", DEFAULT_QUEUE, "b")

    assert paused.paused_at is not None
    assert _claimed_ids(store, 2) == [blog.id, None]
    reason = store.pending_reason(store.get_execution(shop_default.message_id), None, 60)
    assert reason == "app 'shop' is paused"

    store.resume_app("shop")

    assert _claimed_ids(store, 3) == [shop_default.id, shop_reports.id, None]


def test_given_a_pause_when_the_store_is_opened_again_then_it_still_holds(
    database_url: str,
) -> None:
    first = Store(database_url)
    _define(first)
    first.pause_queue(DEFAULT_QUEUE, "maintenance")
    first.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    first.close()

    again = Store(database_url)
    try:
        assert again.claim("w", LEASE) is None
        assert again.get_queue(DEFAULT_QUEUE).pause_reason == "maintenance"
    finally:
        again.close()


def test_given_running_work_when_its_queue_is_paused_then_it_goes_on(store: Store) -> None:
    _define(store)
    store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    claim = store.claim("w", LEASE)
    assert claim is not None

    store.pause_queue(DEFAULT_QUEUE)
    started = store.mark_running(claim.attempt_id, "c1", "engine", datetime.now(UTC))

    assert started is MarkResult.RUNNING
    assert store.get_execution(claim.execution.message_id).status is Status.RUNNING


def test_given_an_unknown_name_when_pausing_then_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="job queue 'nope'"):
        store.pause_queue("nope")
    with pytest.raises(NotFound, match="app 'nope'"):
        store.resume_app("nope")
