"""How the CLI shows an execution, without a server."""

from __future__ import annotations

import io
import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from typer.testing import CliRunner

from pitmaster.cli import app as cli_app
from pitmaster.cli import executions, serve
from pitmaster.cli.exits import ExitCode
from pitmaster.cli.following import Progress
from pitmaster.cli.output import field, print_table, show_status
from pitmaster.client.testing import FakePitmaster
from pitmaster.settings import Settings
from pitmaster.worker.identity import EngineIdentityConflict

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


def test_given_a_retry_id_when_its_status_is_shown_then_both_ids_and_the_attempts_show(
    capsys: pytest.CaptureFixture[str],
) -> None:
    retry_id = "0b4f6a57-8d1e-4f8e-9a51-3c7f2d6e1a90"
    attempts = [
        {"number": 0, "message_id": _PENDING["message_id"]},
        {"number": 1, "message_id": retry_id},
    ]
    retried = _PENDING | {"status": "failed", "pending_reason": None, "attempts": attempts}

    show_status(retried, asked_about=retry_id)

    out = capsys.readouterr().out
    assert out.startswith(f"message_id   {_PENDING['message_id']}\n")
    assert f"asked about  {retry_id} (retry 1 of this execution)\n" in out
    assert "attempts     2 (1 retry)\n" in out


def test_given_rows_when_printed_as_a_table_then_a_header_and_aligned_columns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows: list[dict[str, Any]] = [{"name": "default", "limit": None}, {"name": "mail", "limit": 5}]

    print_table(rows, [("NAME", field("name")), ("LIMIT", field("limit"))])

    assert capsys.readouterr().out == "NAME     LIMIT\ndefault  -\nmail     5\n"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_given_a_terminal_then_progress_rewrites_one_line_and_clears_it() -> None:
    terminal, pipe = _Terminal(), io.StringIO()

    for stream in (terminal, pipe):
        progress = Progress(stream)
        progress.show("pending for 1 s")
        progress.show("running for 2 s")
        progress.clear()

    assert terminal.getvalue() == "\r\x1b[Kpending for 1 s\r\x1b[Krunning for 2 s\r\x1b[K"
    assert pipe.getvalue() == ""


def test_given_help_then_arguments_are_named_plainly_and_flags_take_no_value() -> None:
    runner = CliRunner()

    enqueue = runner.invoke(cli_app, ["enqueue", "--help"], env={"COLUMNS": "200"}).output
    status = runner.invoke(cli_app, ["status", "--help"], env={"COLUMNS": "200"}).output
    top = runner.invoke(cli_app, ["--help"], env={"COLUMNS": "200"}).output

    assert "enqueue [OPTIONS] APP JOB" in enqueue
    assert "status [OPTIONS] ID " in status
    assert "<bool>" not in status and "{" not in status
    assert "--install-completion" in top and "Exit codes:" in top


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        (["schedules", "create"], "schedules create [OPTIONS] NAME APP JOB CRON"),
        (["notifications", "rules"], "notifications rules [OPTIONS] APP [JOB]"),
        (["notifications", "queue-rules-set"], "notifications queue-rules-set [OPTIONS] QUEUE"),
        (["notifications", "deliveries"], "notifications deliveries [OPTIONS] TARGET"),
    ],
)
def test_given_a_groups_help_then_its_arguments_are_named_as_everywhere_else(
    command: list[str], usage: str
) -> None:
    shown = CliRunner().invoke(cli_app, [*command, "--help"], env={"COLUMNS": "200"}).output

    assert usage in shown


class _RefusedWorker:
    """A worker that stopped itself at once: its engine has another engine's identity."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.stopping.set()
        self.refused = EngineIdentityConflict("engine e1 is also worker w2's on host-b")


def test_given_a_worker_its_engine_refuses_when_it_stops_then_it_exits_with_its_own_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @contextmanager
    def refused_worker(*_args: Any) -> Iterator[_RefusedWorker]:
        yield _RefusedWorker()

    monkeypatch.setattr(serve, "load_settings", lambda: Settings(metrics_port=None))
    monkeypatch.setattr(serve, "open_store", lambda _settings: _ClosedStore())
    monkeypatch.setattr(serve, "_running_worker", refused_worker)
    monkeypatch.setattr(signal, "signal", lambda *_args: None)

    result = CliRunner().invoke(cli_app, ["worker"])

    assert result.exit_code == ExitCode.ENGINE_REFUSED
    assert result.exit_code != ExitCode.NOT_FOUND  # told apart from "no such execution"
    assert "this worker stopped: engine e1 is also worker w2's on host-b" in result.stderr


class _ClosedStore:
    def close(self) -> None:
        pass


def test_given_a_lost_connection_when_enqueueing_then_sent_again_under_one_key_and_made_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakePitmaster()
    fake.drop_connections(1)
    monkeypatch.setattr(executions, "connect", lambda _url: fake.client())
    options = ["--queue", "mail", "-m", '{"to": "a@example.com"}', "--priority", "5"]
    options += ["--run-at", "2026-12-09T09:00:00Z", "--idempotency-key", "comment-42"]

    result = CliRunner().invoke(cli_app, ["enqueue", "blog", "notify", *options, "--json"])

    assert result.exit_code == 0, result.output
    (made,) = fake.enqueued
    assert json.loads(result.stdout)["message_id"] == made.message_id
    (sent,) = fake.requests
    assert sent.headers["Idempotency-Key"] == "comment-42"
    body = json.loads(sent.content)
    assert body["priority"] == 5 and body["queue"] == "mail" and body["delay_seconds"] == 0
    assert body["run_at"] == "2026-12-09T09:00:00+00:00"
    assert body["message"] == {"to": "a@example.com"}


def test_given_no_key_when_enqueueing_then_a_key_is_made_and_only_the_message_id_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakePitmaster()
    fake.drop_connections(2)
    monkeypatch.setattr(executions, "connect", lambda _url: fake.client())

    result = CliRunner().invoke(cli_app, ["enqueue", "blog", "notify", "--delay", "10"])

    assert result.exit_code == 0, result.output
    (made,) = fake.enqueued
    assert result.stdout == f"{made.message_id}\n"
    assert made.idempotency_key and json.loads(fake.requests[0].content)["delay_seconds"] == 10


def test_given_a_run_at_without_an_offset_when_enqueueing_then_nothing_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakePitmaster()
    monkeypatch.setattr(executions, "connect", lambda _url: fake.client())

    result = CliRunner().invoke(cli_app, ["enqueue", "blog", "notify", "--run-at", "2026-12-09"])

    assert result.exit_code == ExitCode.USAGE
    assert "needs a time zone offset" in result.stderr and fake.requests == []
