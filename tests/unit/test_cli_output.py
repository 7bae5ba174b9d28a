"""How the CLI shows an execution, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from pitmaster.cli.output import show_status

_PENDING: dict[str, Any] = {
    "message_id": "fcfdf8a2-a951-4909-a9f5-c55b5ce49bb4",
    "status": "pending",
    "application": "blog",
    "job": "notify-author",
    "queue": "default",
    "created_at": "2026-12-02T00:51:21.180402Z",
    "started_at": None,
    "finished_at": None,
    "exit_code": None,
    "reason": None,
    "pending_reason": "delayed until 2026-12-09T09:00:00+00:00",
}


def test_given_a_waiting_execution_when_its_status_is_shown_then_it_says_why_it_waits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    show_status(_PENDING)

    assert "waiting      delayed until 2026-12-09T09:00:00+00:00\n" in capsys.readouterr().out


def test_given_an_ended_execution_when_its_status_is_shown_then_no_waiting_line_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ended = _PENDING | {"status": "success", "exit_code": 0, "pending_reason": None}

    show_status(ended)

    out = capsys.readouterr().out
    assert "exit_code    0\n" in out and "waiting" not in out
