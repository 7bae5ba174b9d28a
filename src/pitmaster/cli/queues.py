"""``pitmaster queues``: job queues and their concurrency limits."""

from __future__ import annotations

from typing import Annotated

import typer

from pitmaster.cli.options import LimitOption, NoLimitOption, UrlOption, limit_fields
from pitmaster.cli.remote import call, present
from pitmaster.client import DEFAULT_URL

queues_cli = typer.Typer(help="Manage job queues.")


@queues_cli.command("list")
def queues_list(url: UrlOption = DEFAULT_URL) -> None:
    """List job queues."""
    call(url, "GET", "/v1/job_queues")


@queues_cli.command("show")
def queues_show(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Show one job queue."""
    call(url, "GET", f"/v1/job_queues/{name}")


@queues_cli.command("create")
def queues_create(
    name: str,
    description: Annotated[str, typer.Option("--description")] = "",
    max_concurrent: LimitOption = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create a job queue."""
    body = {"name": name, "description": description, "max_concurrent_executions": max_concurrent}
    call(url, "POST", "/v1/job_queues", body)


@queues_cli.command("update")
def queues_update(
    name: str,
    description: Annotated[str | None, typer.Option("--description")] = None,
    max_concurrent: LimitOption = None,
    no_limit: NoLimitOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change a job queue's description or concurrency limit."""
    body = present(description=description) | limit_fields(max_concurrent, no_limit)
    call(url, "PATCH", f"/v1/job_queues/{name}", body)


@queues_cli.command("delete")
def queues_delete(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Delete a job queue with no pending or running work."""
    call(url, "DELETE", f"/v1/job_queues/{name}")
    typer.echo(f"deleted job queue {name}")


@queues_cli.command("pause")
def queues_pause(
    name: str,
    reason: Annotated[str, typer.Option("--reason", help="shown as the pending reason")] = "",
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Start nothing more from a job queue; running work goes on, enqueueing is accepted."""
    call(url, "POST", f"/v1/job_queues/{name}/pause", {"reason": reason})


@queues_cli.command("resume")
def queues_resume(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Let a paused job queue's work start again."""
    call(url, "POST", f"/v1/job_queues/{name}/resume")
