"""Executions: enqueue, cancel, retry, follow and list them; and the workers running them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TextIO

import typer

from pitmaster.cli.exits import ExitCode, end_with_ending
from pitmaster.cli.following import (
    Follower,
    Progress,
    follow_output,
    wait_for_ending,
)
from pitmaster.cli.options import (
    AppArgument,
    ExecutionArgument,
    JobArgument,
    JsonOption,
    TimeoutWaitOption,
    UrlOption,
)
from pitmaster.cli.output import field, print_json, print_table, show, show_status
from pitmaster.cli.remote import connect, present
from pitmaster.client import DEFAULT_URL
from pitmaster.inert import clean_output


def enqueue(
    application: AppArgument,
    job: JobArgument,
    queue: Annotated[str, typer.Option("--queue", "-q", help="job queue")] = "default",
    message: Annotated[
        str, typer.Option("--message", "-m", help="the message, as JSON (not null)")
    ] = "{}",
    delay: Annotated[float, typer.Option("--delay", help="seconds to wait before running")] = 0,
    run_at: Annotated[
        str | None, typer.Option("--run-at", help="RFC 3339 time to run at, instead of --delay")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="enqueueing again with it returns the same id"),
    ] = None,
    as_json: JsonOption = False,
    priority: Annotated[
        int | None,
        typer.Option(
            "--priority", help="higher runs first (default: the job definition's, else 0)"
        ),
    ] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Enqueue a message for APP's JOB and print its message_id."""
    try:
        payload = json.loads(message)
    except json.JSONDecodeError as exc:
        typer.echo(f"pitmaster: --message is not valid JSON: {exc}", err=True)
        raise typer.Exit(ExitCode.USAGE) from exc
    with connect(url) as client:
        # Sent again on a lost connection, under one Idempotency-Key: enqueued once.
        result = client.enqueue(
            application,
            job,
            payload,
            queue=queue,
            delay_seconds=delay,
            run_at=_aware_time("--run-at", run_at),
            idempotency_key=idempotency_key,
            priority=priority,
        )
    show(result, as_json, lambda r: typer.echo(r["message_id"]))


def _aware_time(option: str, text: str | None) -> datetime | None:
    """An RFC 3339 time with its offset (``Z`` or ``+02:00``), or a usage error."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        typer.echo(f"pitmaster: {option} is not an RFC 3339 time: {text}", err=True)
        raise typer.Exit(ExitCode.USAGE) from exc
    if moment.tzinfo is None:
        typer.echo(f"pitmaster: {option} needs a time zone offset (Z or +HH:MM): {text}", err=True)
        raise typer.Exit(ExitCode.USAGE)
    return moment


def cancel(
    reference: ExecutionArgument,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Cancel an execution: a waiting one at once, a running one by stopping it."""
    with connect(url) as client:
        execution = client.request("POST", f"/v1/job_executions/{reference}/cancel")
    show(execution, as_json, _say_cancelled)


def _say_cancelled(execution: dict[str, Any]) -> None:
    message_id = execution["message_id"]
    if execution["status"] == "running":
        # The cancel is recorded; the job ends once its container has stopped.
        typer.echo(f"stopping {message_id}: SIGTERM sent, then SIGKILL after its grace period")
    else:
        typer.echo(f"{execution['status']} {message_id}")


def retry(
    reference: ExecutionArgument,
    delay: Annotated[float, typer.Option("--delay", help="seconds to wait before running")] = 0,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Retry a failed, error or cancelled execution; prints the retry's message_id."""
    with connect(url) as client:
        result = client.request(
            "POST", f"/v1/job_executions/{reference}/retries", json={"delay_seconds": delay}
        )
    show(result, as_json, lambda r: typer.echo(r["message_id"]))


def retry_all(
    application: Annotated[
        str | None, typer.Option("--app", metavar="APP", help="only this app's")
    ] = None,
    job: Annotated[str | None, typer.Option("--job", metavar="JOB", help="only this job's")] = None,
    queue: Annotated[
        str | None, typer.Option("--queue", metavar="QUEUE", help="only those on this queue")
    ] = None,
    status: Annotated[
        str, typer.Option("--status", metavar="STATUS", help="failed, error or cancelled")
    ] = "failed",
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="TIME", help="only those created since (RFC 3339)"),
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Retry, once each, every execution that matches (by default every failed one).

    The server retries a few thousand a call; this goes on until none remain.
    """
    body = present(
        application=application, job=job, queue=queue, status=status, created_since=since
    )
    retried = 0
    with connect(url) as client:
        while True:  # the server retries at most a few thousand a call: go on after them
            result = client.request("POST", "/v1/job_executions/retries", json=body)
            retried += result["retried"]
            if result.get("next_after_id") is None:
                break
            body["after_id"] = result["next_after_id"]
    show({"retried": retried}, as_json, lambda r: typer.echo(f"retried {r['retried']}"))


def status(
    reference: ExecutionArgument,
    wait: Annotated[bool, typer.Option("--wait", help="block until the execution ends")] = False,
    timeout: TimeoutWaitOption = None,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Show an execution's status and attempts. With --wait, the exit code tells how it ended.

    While --wait waits on a terminal, a line on stderr shows its state and for how long.
    """
    fields = "__default__,attempts"
    with connect(url) as client:
        if wait:
            execution = wait_for_ending(
                client, reference, fields=fields, timeout=timeout, progress=Progress()
            )
        else:
            execution = client.execution(reference, fields)
    if as_json:
        print_json(execution)
    else:
        show_status(execution, asked_about=_retry_id(reference, execution))
    if wait:
        end_with_ending(execution["status"])


def _retry_id(reference: str, execution: dict[str, Any]) -> str | None:
    """``reference`` if it names one of the execution's retries rather than the execution."""
    if reference in (execution["message_id"], str(execution["id"])):
        return None
    return reference


def logs(
    reference: ExecutionArgument,
    wait: Annotated[bool, typer.Option("--wait", help="block until the execution ends")] = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="print the output as it comes, until the execution ends"
        ),
    ] = False,
    timeout: TimeoutWaitOption = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="the output as stored, escape sequences and all")
    ] = False,
    attempt: Annotated[
        int | None,
        typer.Option(
            "--attempt",
            min=0,
            metavar="N",
            help="this attempt's output instead of the last one's: 0 the first run, "
            "N the Nth retry (the # of the console's attempts table)",
        ),
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Print an execution's stdout and stderr, each under its own label.

    The output is the last ended attempt's, or with --attempt that attempt's.
    On a terminal the output is made inert first (no escape sequences, carriage
    returns as line breaks, control characters shown as symbols); --raw prints it
    as stored. Into a pipe or a file it goes as stored.

    With --follow, the job's stdout goes to stdout and its stderr to stderr, as
    it comes, retries and all, and the exit code tells how the execution ended.
    The server reads a running job's output only from the Docker engine it
    reaches (pitmaster up); otherwise each attempt's shows when it ends.
    """
    if follow:
        if attempt is not None or as_json:
            raise typer.BadParameter("--follow takes neither --attempt nor --json")
        _follow(reference, timeout, raw, url)
        return
    fields = "__default__,stdout,stderr"
    with connect(url) as client:
        if wait:
            execution = wait_for_ending(client, reference, fields=fields, timeout=timeout)
        elif attempt is None:
            execution = client.execution(reference, fields=fields)
        if attempt is not None:
            execution = client.attempt(reference, attempt)
    if as_json:
        print_json({stream: execution.get(stream) or "" for stream in ("stdout", "stderr")})
        return
    for stream in ("stdout", "stderr"):
        sys.stdout.write(f"--- {stream} ---\n")
        text = execution.get(stream) or ""
        if not raw and sys.stdout.isatty():
            text = clean_output(text)
        if text:
            # Not typer.echo: it strips some escape sequences, and only into a pipe.
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()


def _writer(stream: TextIO, raw: bool) -> Callable[[str], None]:
    inert = not raw and stream.isatty()

    def write(text: str) -> None:
        stream.write(clean_output(text) if inert else text)
        stream.flush()

    return write


def _follow(reference: str, timeout: float | None, raw: bool, url: str) -> None:
    def announce(text: str) -> None:
        typer.echo(f"pitmaster: {text}", err=True)

    follower = Follower(_writer(sys.stdout, raw), _writer(sys.stderr, raw), announce)
    with connect(url) as client:
        ended = follow_output(client, reference, follower, timeout)
    end_with_ending(ended["status"])


def list_executions(
    application: Annotated[
        str | None, typer.Option("--app", metavar="APP", help="only this app's")
    ] = None,
    job: Annotated[str | None, typer.Option("--job", metavar="JOB", help="only this job's")] = None,
    queue: Annotated[
        str | None, typer.Option("--queue", metavar="QUEUE", help="only those on this queue")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", metavar="STATUS", help="pending, running, success, ..."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", help="at most N, newest first")
    ] = 20,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """List executions, newest first."""
    with connect(url) as client:
        page = client.get(
            "/v1/job_executions",
            application=application,
            job=job,
            queue=queue,
            status=status,
            limit=limit,
        )
    show(page["items"], as_json, executions_table)


def executions_table(items: list[dict[str, Any]]) -> None:
    print_table(
        items,
        [
            ("MESSAGE_ID", field("message_id")),
            ("STATUS", field("status")),
            ("JOB", lambda row: f"{row['application']}/{row['job']}"),
            ("QUEUE", field("queue")),
            ("CREATED_AT", field("created_at")),
            ("REASON", field("reason")),
        ],
    )


def workers(as_json: JsonOption = False, url: UrlOption = DEFAULT_URL) -> None:
    """List workers by their heartbeats."""
    with connect(url) as client:
        listed = client.get("/v1/workers")
    show(listed, as_json, _workers_table)


def _workers_table(listed: list[dict[str, Any]]) -> None:
    def state(row: dict[str, Any]) -> str:
        if not row["alive"]:
            return "gone"
        return "healthy" if row["healthy"] else f"unhealthy: {row['unhealthy_reason']}"

    print_table(
        listed,
        [
            ("ID", field("id")),
            ("HOST", field("host")),
            ("QUEUES", lambda row: row["queues"] or "all"),
            ("RUNNING", field("running")),
            ("LAST_SEEN_AT", field("last_seen_at")),
            ("STATE", state),
        ],
    )
