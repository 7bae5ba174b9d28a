"""Docker's event stream and inspected state read, without a Docker engine: the parsing only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pitmaster.executors.docker import DockerExitStream, run_times


class _Events:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._events = events
        self.closed = False

    def __iter__(self) -> Any:
        return iter(self._events)

    def close(self) -> None:
        self.closed = True


def _event(action: str, handle: str, **attributes: str) -> dict[str, Any]:
    return {
        "Type": "container",
        "Action": action,
        "Actor": {"ID": handle, "Attributes": attributes},
        "timeNano": 1_780_000_000_123_456_789,
    }


def test_given_a_die_event_then_its_exit_code_and_engine_time_are_read() -> None:
    stream = DockerExitStream(_Events([_event("die", "c1", exitCode="3", name="x")]))

    (event,) = list(stream)

    assert (event.handle, event.exit_code, event.oom_killed) == ("c1", 3, False)
    assert event.at == datetime.fromtimestamp(1_780_000_000.123456789, UTC)


def test_given_an_oom_event_then_the_die_that_follows_is_marked_oom_and_only_that_one() -> None:
    events = [
        _event("oom", "c1"),
        _event("die", "c2", exitCode="0"),
        _event("die", "c1", exitCode="137"),
        _event("die", "c1", exitCode="137"),
    ]

    exits = list(DockerExitStream(_Events(events)))

    assert [(e.handle, e.exit_code, e.oom_killed) for e in exits] == [
        ("c2", 0, False),
        ("c1", 137, True),
        ("c1", 137, False),
    ]


def test_given_a_die_event_without_an_exit_code_then_the_code_is_unknown() -> None:
    (event,) = list(DockerExitStream(_Events([_event("die", "c1", exitCode="odd")])))

    assert event.exit_code is None


def test_given_docker_shows_a_start_after_the_finish_then_the_start_is_the_finish() -> None:
    # What the engine reports for a command that exits at once (seen with `sh -c 'exit 3'`).
    state = {
        "StartedAt": "2026-12-02T00:52:15.266303222Z",
        "FinishedAt": "2026-12-02T00:52:15.265065577Z",
    }

    started_at, finished_at = run_times(state)

    assert started_at == finished_at == datetime(2026, 12, 2, 0, 52, 15, 265065, UTC)


def test_given_docker_times_in_order_then_both_are_kept() -> None:
    state = {
        "StartedAt": "2026-12-02T00:52:14.157854798Z",
        "FinishedAt": "2026-12-02T00:52:14.15985241Z",
    }

    assert run_times(state) == (
        datetime(2026, 12, 2, 0, 52, 14, 157854, UTC),
        datetime(2026, 12, 2, 0, 52, 14, 159852, UTC),
    )
