"""The exit book: exits that come before their attempt is stored as running are not lost."""

from __future__ import annotations

from datetime import UTC, datetime

from pitmaster.executors.base import ExitEvent
from pitmaster.models import RunningAttempt
from pitmaster.worker.exits import ExitBook

ATTEMPT = RunningAttempt(
    attempt_id=1,
    execution_id=1,
    message_id="m-1",
    container_id="c-1",
    started_at=datetime(2026, 1, 1, tzinfo=UTC),
    timeout_seconds=None,
    stop_grace_seconds=10.0,
    stop_reason=None,
    stop_signalled_at=None,
)


def _exit(handle: str) -> ExitEvent:
    return ExitEvent(handle, exit_code=0, at=datetime(2026, 1, 1, tzinfo=UTC))


def test_given_a_stored_attempt_when_its_exit_comes_then_it_is_found_and_nothing_is_noted() -> None:
    book = ExitBook()

    assert book.attempt_for(_exit("c-1"), lambda handle: ATTEMPT) is ATTEMPT
    assert len(book) == 0
    assert book.exited_early("c-1") is None


def test_given_an_exit_before_the_attempt_is_stored_then_the_runner_learns_of_it_once() -> None:
    book = ExitBook()

    event = _exit("c-1")
    assert book.attempt_for(event, lambda handle: None) is None

    assert book.exited_early("c-1") == event
    assert book.exited_early("c-1") is None  # told once
    assert book.exited_early("c-2") is None


def test_given_exits_nobody_claims_then_they_are_forgotten_after_the_keep_time() -> None:
    now = [0.0]
    book = ExitBook(keep_seconds=60, clock=lambda: now[0])
    book.attempt_for(_exit("other-installation-1"), lambda handle: None)

    now[0] = 61.0
    book.attempt_for(_exit("other-installation-2"), lambda handle: None)

    assert len(book) == 1
    assert book.exited_early("other-installation-1") is None
    assert book.exited_early("other-installation-2") is not None
