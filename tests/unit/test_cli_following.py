"""Following an execution from the CLI: its output once, as it grows; its progress."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pitmaster.cli.exits import ExitCode, of_ending, of_error
from pitmaster.cli.following import Follower, new_part, progress_line
from pitmaster.client import ClientError, ConnectionFailed, WaitTimedOut
from pitmaster.errors import NotFound


def test_given_output_that_grew_when_compared_then_only_the_new_part_is_given() -> None:
    assert new_part("one\n", "one\ntwo\n") == "two\n"
    assert new_part("", "one\n") == "one\n"
    assert new_part("one\n", "one\n") == ""


def test_given_a_window_that_slid_when_compared_then_what_follows_the_seen_end_is_given() -> None:
    seen = "".join(f"line {n}\n" for n in range(10))
    now = "".join(f"line {n}\n" for n in range(5, 14))  # the engine dropped the first lines

    assert new_part(seen, now) == "line 10\nline 11\nline 12\nline 13\n"


def test_given_no_common_part_when_compared_then_all_of_the_new_output_is_given() -> None:
    assert new_part("old\n", "new\n") == "new\n"


def _follower() -> tuple[Follower, dict[str, list[str]]]:
    written: dict[str, list[str]] = {"stdout": [], "stderr": [], "said": []}
    follower = Follower(written["stdout"].append, written["stderr"].append, written["said"].append)
    return follower, written


def _output(attempt: int | None, stdout: str, stderr: str = "") -> dict[str, Any]:
    return {"attempt": attempt, "stdout": stdout, "stderr": stderr}


def test_given_live_output_then_stored_when_followed_then_each_line_is_written_once() -> None:
    follower, written = _follower()

    follower.take(_output(None, ""))
    follower.take(_output(0, "a\n"))
    follower.take(_output(0, "a\nb\n", "oops\n"))
    follower.take(_output(0, "a\nb\nc\n", "oops\n"))  # the stored output, once it ended

    assert written == {"stdout": ["a\n", "b\n", "c\n"], "stderr": ["oops\n"], "said": []}


def test_given_an_empty_read_while_the_job_ends_when_followed_then_nothing_is_written_twice() -> (
    None
):
    follower, written = _follower()

    follower.take(_output(0, "one\n"))
    follower.take(_output(0, ""))  # the container is being removed: its logs read empty
    follower.take(_output(0, "one\ntwo\n"))  # then the stored output

    assert written["stdout"] == ["one\n", "two\n"]


def test_given_a_retry_when_followed_then_it_is_announced_and_its_output_starts_afresh() -> None:
    follower, written = _follower()

    follower.take(_output(0, "try 0\n"))
    follower.take(_output(1, "try 1\n"))
    follower.take(_output(0, "try 0\n"))  # the first attempt's stored output: not again

    assert written["stdout"] == ["try 0\n", "try 1\n"]
    assert written["said"] == ["retry 1 began (its own output: logs --attempt 1)"]


def test_given_a_waiting_or_running_execution_then_the_progress_says_for_how_long() -> None:
    now = datetime(2026, 12, 2, 4, 0, 0, tzinfo=UTC)
    pending = {"status": "pending", "created_at": "2026-12-02T03:59:55Z", "pending_reason": "busy"}
    running = {"status": "running", "started_at": "2026-12-02T03:57:30+00:00"}

    assert progress_line(pending, now) == "pending for 5 s: busy"
    assert progress_line(running, now) == "running for 2 min 30 s"


def test_given_each_way_a_command_ends_then_each_has_its_own_exit_code() -> None:
    codes = [
        of_ending("success"),
        of_error(ClientError("400: bad", 400)),
        ExitCode.USAGE,
        of_error(ClientError("404: gone", 404)),
        of_error(NotFound("no database")),
        of_error(ConnectionFailed("cannot reach")),
        of_error(WaitTimedOut("still running")),
        of_ending("failed"),
        of_ending("error"),
        of_ending("cancelled"),
    ]

    assert codes == [0, 1, 2, 3, 3, 4, 5, 6, 7, 8]
