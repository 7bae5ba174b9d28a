"""The job SDK: a job function gets the message it was sent, typed, and exits by its outcome."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from pitmaster.job import (
    EXIT_BAD_MESSAGE,
    EXIT_FAILED,
    EXIT_NO_SUCH_JOB,
    EXIT_TERMINATED,
    Context,
    Jobs,
    read_message,
)


class Mail(BaseModel):
    to: str
    subject: str = "hello"


def environment(job: str = "send-mail", message: Any = None, **extra: str) -> dict[str, str]:
    env = {
        "BARBEQUE_JOB": job,
        "BARBEQUE_MESSAGE_ID": "m-1",
        "BARBEQUE_QUEUE_NAME": "default",
        "BARBEQUE_RETRY_COUNT": "0",
        "BARBEQUE_SENT_TIMESTAMP": "1700000000000",
        "PITMASTER_ATTEMPT_ID": "a-1",
        "PITMASTER_APPLICATION": "mailer",
    }
    if message is not None:
        env["BARBEQUE_MESSAGE"] = json.dumps(message)
    env.update(extra)
    return env


def test_given_a_typed_job_when_run_then_it_gets_the_validated_model_and_the_context():
    jobs, seen = Jobs(), []

    @jobs.job("send-mail")
    def send_mail(message: Mail, ctx: Context) -> None:
        seen.append((message, ctx))

    code = jobs.main(environment(message={"to": "a@example.com"}, BARBEQUE_RETRY_COUNT="2"))

    assert code == 0
    message, ctx = seen[0]
    assert message == Mail(to="a@example.com")
    assert (ctx.message_id, ctx.attempt_id, ctx.queue, ctx.retry_count) == (
        "m-1",
        "a-1",
        "default",
        2,
    )
    assert ctx.is_retry
    assert ctx.application == "mailer"
    assert ctx.sent_at is not None
    assert ctx.sent_at.timestamp() == 1700000000


def test_given_a_message_that_does_not_fit_when_run_then_a_distinct_code_and_a_clear_line(capsys):
    jobs = Jobs()

    @jobs.job("send-mail")
    def send_mail(message: Mail) -> None:
        raise AssertionError("must not be called")

    code = jobs.main(environment(message={"subject": "no recipient"}))

    assert code == EXIT_BAD_MESSAGE
    assert "bad message: to: Field required" in capsys.readouterr().err


def test_given_a_message_that_is_not_json_when_run_then_it_is_a_bad_message(capsys):
    jobs = Jobs()
    jobs.job("send-mail")(lambda message: None)

    code = jobs.main({**environment(), "BARBEQUE_MESSAGE": "{not json"})

    assert code == EXIT_BAD_MESSAGE
    assert "not JSON" in capsys.readouterr().err


def test_given_the_message_in_a_file_when_read_then_the_file_wins(tmp_path: Path):
    path = tmp_path / "message.json"
    path.write_text(json.dumps({"to": "file@example.com"}))

    message = read_message(environment(PITMASTER_MESSAGE_FILE=str(path)))

    assert message == {"to": "file@example.com"}


def test_given_a_job_that_raises_when_run_then_it_fails_with_the_traceback(capsys):
    jobs = Jobs()

    @jobs.job("send-mail")
    def send_mail(message: dict[str, Any]) -> None:
        raise RuntimeError("smtp is down")

    code = jobs.main(environment(message={}))

    assert code == EXIT_FAILED
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "RuntimeError: smtp is down" in err


def test_given_a_job_returning_an_int_or_a_coroutine_when_run_then_that_is_the_exit_code():
    jobs = Jobs()
    jobs.job("three")(lambda message: 3)

    async def later(message: dict[str, Any]) -> int:
        return 4

    jobs.job("later")(later)

    assert jobs.main(environment("three", {})) == 3
    # A job process has no event loop of its own; this test process may (a browser test
    # run earlier on this thread), so the coroutine's run gets a thread as a job would.
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(jobs.main, environment("later", {})).result() == 4


def test_given_an_unknown_job_name_when_run_then_it_says_which_names_it_knows(capsys):
    jobs = Jobs()
    jobs.job("a")(lambda message: None)
    jobs.job("b")(lambda message: None)

    assert jobs.main(environment("c", {})) == EXIT_NO_SUCH_JOB
    assert "known: a, b" in capsys.readouterr().err


def test_given_two_functions_with_one_name_when_registered_then_it_is_refused():
    jobs = Jobs()
    jobs.job("a")(lambda message: None)

    with pytest.raises(ValueError, match="two job functions"):
        jobs.job("a")(lambda message: None)


def test_given_a_running_job_when_sigterm_then_it_cleans_up_and_exits_with_its_code(tmp_path: Path):
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            from pitmaster.job import job, run

            @job("wait")
            def wait(message):
                try:
                    print("ready", flush=True)
                    time.sleep(60)
                finally:
                    print("cleaned up", flush=True)

            run()
            """
        )
    )
    process = subprocess.Popen(
        [sys.executable, str(script)],
        env={**environment("wait", {}), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"

    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=10)

    assert process.returncode == EXIT_TERMINATED
    assert "cleaned up" in stdout
    assert "SIGTERM" in stderr


def test_given_a_job_without_parameters_when_run_without_a_message_then_it_runs():
    jobs, calls = Jobs(), []
    jobs.job("tick")(lambda: calls.append("tick"))

    code = jobs.main({"BARBEQUE_JOB": "tick"})

    assert code == 0
    assert calls == ["tick"]


def test_given_no_job_name_and_one_function_when_run_by_hand_then_that_function_runs():
    jobs, calls = Jobs(), []
    jobs.job("only")(lambda message: calls.append(message))

    assert jobs.main({"BARBEQUE_MESSAGE": "[1]"}) == 0
    assert calls == [[1]]


def test_given_a_scheduled_execution_then_the_context_has_its_tick():
    scheduled = Context.from_environment({"PITMASTER_SCHEDULED_AT": "2026-03-28T01:30:00Z"})
    assert scheduled.scheduled_at == datetime(2026, 3, 28, 1, 30, tzinfo=UTC)
    assert Context.from_environment({}).scheduled_at is None
