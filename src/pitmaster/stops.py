"""How a stop that was asked for (a timeout, a cancel) changes how an attempt is recorded.

Pure logic, applied by the store in the transaction that records the ending,
so that it sees the stop as it stands at that moment: a cancel accepted while
the poller was already recording still counts. A cancel accepted before the
ending is recorded wins, even if the container had just exited on its own:
telling the two apart would mean comparing the engine's clock with ours.
"""

from __future__ import annotations

from dataclasses import replace

from pitmaster.models import EndingReason, Outcome, Status


def settle(outcome: Outcome, stop_reason: str | None) -> Outcome:
    """The ending to record, given any stop asked of the attempt."""
    if stop_reason is None:
        return outcome
    if stop_reason == EndingReason.CANCELLED:
        return replace(outcome, status=Status.CANCELLED, reason=EndingReason.CANCELLED.value)
    if stop_reason == EndingReason.TIMEOUT and not _engine_caused(outcome.reason):
        return replace(outcome, status=Status.FAILED, reason=EndingReason.TIMEOUT.value)
    return outcome


def _engine_caused(reason: str) -> bool:
    return reason in set(EndingReason) and EndingReason(reason).overrides_a_stop
