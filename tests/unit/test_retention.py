"""Retention: old ended executions go with their attempts and output; nothing else does."""

from __future__ import annotations

from datetime import timedelta

from pitmaster.models import ExecutionFilter, Outcome, Status
from pitmaster.store.store import Store

from ..conftest import ManualClock


def _ended(store: Store, clock: ManualClock, n: int) -> str:
    """An execution that ran and succeeded now; its message_id."""
    execution = store.enqueue("shop", "mail", "default", {"n": n})
    claim = store.claim("w", 60)
    assert claim is not None and claim.execution.id == execution.id
    store.mark_running(claim.attempt_id, f"c-{n}", "engine", clock())
    assert store.record_outcome(claim.attempt_id, Outcome(Status.SUCCESS, "exited 0", 0, clock()))
    return execution.message_id


def test_given_old_and_recent_executions_then_only_old_ended_ones_go_in_batches(
    clocked_store: Store, clock: ManualClock
) -> None:
    store = clocked_store
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    for n in range(5):
        _ended(store, clock, n)
    clock.advance(timedelta(days=8).total_seconds())
    recent = _ended(store, clock, 99)
    waiting = store.enqueue("shop", "mail", "default", {"n": "waits"}).message_id

    deleted = store.retention.delete_ended(timedelta(days=7), batch_size=2)

    assert deleted == 5
    left = {e.message_id for e in store.list_executions(ExecutionFilter()).items}
    assert left == {waiting, recent}
    assert store.get_execution(recent).status is Status.SUCCESS
    assert store.retention.delete_ended(timedelta(days=7)) == 0
