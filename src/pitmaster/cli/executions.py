"""Executions: enqueue, cancel, retry, follow and list them; and the workers running them."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from pitmaster.cli.options import JsonOption, UrlOption
from pitmaster.cli.output import print_json, show_status
from pitmaster.cli.remote import call, connect, present
from pitmaster.client import DEFAULT_URL
from pitmaster.inert import clean_output


def enqueue(
    application: Annotated[str, typer.Argument(help="app name")],
    job: Annotated[str, typer.Argument(help="job name")],
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
    priority: Annotated[
        int | None,
        typer.Option(
            "--priority", help="higher runs first (default: the job definition's, else 0)"
        ),
    ] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Enqueue a message for APPLICATION's JOB and print its message_id."""
    try:
        payload = json.loads(message)
    except json.JSONDecodeError as exc:
        typer.echo(f"pitmaster: --message is not valid JSON: {exc}", err=True)
        raise typer.Exit(2) from exc
    body: dict[str, Any] = {"application": application, "job": job, "queue": queue}
    body |= {"message": payload, "delay_seconds": delay}
    body |= present(run_at=run_at, idempotency_key=idempotency_key, priority=priority)
    with connect(url) as client:
        result = client.request("POST", "/v2/job_executions", json=body)
    typer.echo(result["message_id"])


def cancel(
    reference: Annotated[str, typer.Argument(metavar="ID", help="message_id or numeric id")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Cancel an execution: a waiting one at once, a running one by stopping it."""
    with connect(url) as client:
        execution = client.request("POST", f"/v1/job_executions/{reference}/cancel")
    typer.echo(f"{execution['message_id']} {execution['status']}")


def retry(
    reference: Annotated[str, typer.Argument(metavar="ID", help="message_id or numeric id")],
    delay: Annotated[float, typer.Option("--delay", help="seconds to wait before running")] = 0,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Retry a failed, error or cancelled execution; prints the retry's message_id."""
    with connect(url) as client:
        result = client.request(
            "POST", f"/v1/job_executions/{reference}/retries", json={"delay_seconds": delay}
        )
    typer.echo(result["message_id"])


def retry_all(
    application: Annotated[str | None, typer.Option("--app")] = None,
    job: Annotated[str | None, typer.Option("--job")] = None,
    queue: Annotated[str | None, typer.Option("--queue")] = None,
    status: Annotated[str, typer.Option("--status", help="failed, error or cancelled")] = "failed",
    since: Annotated[
        str | None, typer.Option("--since", help="only those created since (RFC 3339)")
    ] = None,
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
    typer.echo(f"retried {retried}")


# The exit code of status --wait, by how the execution ended.
_FINAL_EXIT_CODES = {"success": 0, "failed": 1, "error": 2, "cancelled": 3}


def status(
    reference: Annotated[str, typer.Argument(metavar="ID", help="message_id or numeric id")],
    wait: Annotated[bool, typer.Option("--wait", help="block until the execution ends")] = False,
    timeout: Annotated[float | None, typer.Option(help="with --wait: give up after")] = None,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Show an execution's status. With --wait, the exit code tells how it ended."""
    with connect(url) as client:
        execution = client.wait(reference, timeout=timeout) if wait else client.execution(reference)
    if as_json:
        print_json(execution)
    else:
        show_status(execution)
    if wait:
        raise typer.Exit(_FINAL_EXIT_CODES.get(execution["status"], 0))


def logs(
    reference: Annotated[str, typer.Argument(metavar="ID", help="message_id or numeric id")],
    wait: Annotated[bool, typer.Option("--wait", help="block until the execution ends")] = False,
    timeout: Annotated[float | None, typer.Option(help="with --wait: give up after")] = None,
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
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Print an execution's stdout and stderr, each under its own label.

    The output is the last ended attempt's, or with --attempt that attempt's.
    On a terminal the output is made inert first (no escape sequences, carriage
    returns as line breaks, control characters shown as symbols); --raw prints it
    as stored. Into a pipe or a file it goes as stored.
    """
    fields = "__default__,stdout,stderr"
    with connect(url) as client:
        if wait:
            execution = client.wait(reference, fields=fields, timeout=timeout)
        elif attempt is None:
            execution = client.execution(reference, fields=fields)
        if attempt is not None:
            execution = client.attempt(reference, attempt)
    for stream in ("stdout", "stderr"):
        sys.stdout.write(f"--- {stream} ---\n")
        text = execution.get(stream) or ""
        if not raw and sys.stdout.isatty():
            text = clean_output(text)
        if text:
            # Not typer.echo: it strips some escape sequences, and only into a pipe.
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()


def list_executions(
    application: Annotated[str | None, typer.Option("--app")] = None,
    job: Annotated[str | None, typer.Option("--job")] = None,
    queue: Annotated[str | None, typer.Option("--queue")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 20,
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
    for item in page["items"]:
        typer.echo(
            f"{item['message_id']}  {item['status']:<9} {item['application']}/{item['job']}"
            f"  {item['queue']}  {item['created_at']}"
        )


def workers(url: UrlOption = DEFAULT_URL) -> None:
    """List workers by their heartbeats."""
    call(url, "GET", "/v1/workers")
