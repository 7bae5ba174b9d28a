"""``pitmaster queues``: job queues and their concurrency limits."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pitmaster.cli.options import (
    JsonOption,
    LimitOption,
    NoLimitOption,
    QueueArgument,
    UrlOption,
    limit_fields,
)
from pitmaster.cli.output import (
    field,
    limit_text,
    paused_text,
    print_fields,
    print_table,
    show,
)
from pitmaster.cli.remote import call, connect, present
from pitmaster.client import DEFAULT_URL

queues_cli = typer.Typer(help="Manage job queues.")


def _queues_table(queues: list[dict[str, Any]]) -> None:
    print_table(
        queues,
        [("NAME", field("name")), ("LIMIT", limit_text), ("DESCRIPTION", field("description"))],
    )


def _queue_fields(queue: dict[str, Any]) -> None:
    print_fields(
        [
            ("name", queue["name"]),
            ("max_concurrent", limit_text(queue)),
            ("description", queue.get("description")),
            ("paused", paused_text(queue)),
            ("created_at", queue.get("created_at")),
            ("updated_at", queue.get("updated_at")),
        ]
    )


@queues_cli.command("list")
def queues_list(as_json: JsonOption = False, url: UrlOption = DEFAULT_URL) -> None:
    """List job queues."""
    with connect(url) as client:
        show(client.get("/v1/job_queues"), as_json, _queues_table)


@queues_cli.command("show")
def queues_show(
    name: QueueArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """Show one job queue."""
    with connect(url) as client:
        show(client.get(f"/v1/job_queues/{name}"), as_json, _queue_fields)


@queues_cli.command("create")
def queues_create(
    name: QueueArgument,
    description: Annotated[str, typer.Option("--description")] = "",
    max_concurrent: LimitOption = None,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create a job queue."""
    body = {"name": name, "description": description, "max_concurrent_executions": max_concurrent}
    with connect(url) as client:
        made = client.request("POST", "/v1/job_queues", json=body)
    show(made, as_json, lambda _made: typer.echo(f"created job queue {name}"))


@queues_cli.command("update")
def queues_update(
    name: QueueArgument,
    description: Annotated[str | None, typer.Option("--description")] = None,
    max_concurrent: LimitOption = None,
    no_limit: NoLimitOption = False,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change a job queue's description or concurrency limit."""
    body = present(description=description) | limit_fields(max_concurrent, no_limit)
    with connect(url) as client:
        changed = client.request("PATCH", f"/v1/job_queues/{name}", json=body)
    show(changed, as_json, lambda _changed: typer.echo(f"updated job queue {name}"))


@queues_cli.command("delete")
def queues_delete(name: QueueArgument, url: UrlOption = DEFAULT_URL) -> None:
    """Delete a job queue with no pending or running work."""
    call(url, "DELETE", f"/v1/job_queues/{name}", quiet=True)
    typer.echo(f"deleted job queue {name}")


@queues_cli.command("pause")
def queues_pause(
    name: QueueArgument,
    reason: Annotated[str, typer.Option("--reason", help="shown as the pending reason")] = "",
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Start nothing more from a job queue; running work goes on, enqueueing is accepted."""
    with connect(url) as client:
        paused = client.request("POST", f"/v1/job_queues/{name}/pause", json={"reason": reason})
    show(paused, as_json, lambda _paused: typer.echo(f"paused job queue {name}"))


@queues_cli.command("resume")
def queues_resume(
    name: QueueArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """Let a paused job queue's work start again."""
    with connect(url) as client:
        resumed = client.request("POST", f"/v1/job_queues/{name}/resume")
    show(resumed, as_json, lambda _resumed: typer.echo(f"resumed job queue {name}"))
