"""``pitmaster jobs``: job definitions, the command an app's job runs and its policies."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from pitmaster.cli.options import (
    BaseDelayOption,
    CpusOption,
    MemoryOption,
    MessageDeliveryOption,
    NetworkOption,
    PidsLimitOption,
    PriorityOption,
    RetryLimitOption,
    TimeoutOption,
    UrlOption,
)
from pitmaster.cli.remote import call, present
from pitmaster.client import DEFAULT_URL

jobs_cli = typer.Typer(help="Manage job definitions (the command an app's job runs).")


def _path(app_name: str, job: str) -> str:
    return f"/v1/apps/{app_name}/job_definitions/{quote(job, safe='')}"


@jobs_cli.command("list")
def jobs_list(
    app_name: Annotated[str, typer.Argument(metavar="APP")], url: UrlOption = DEFAULT_URL
) -> None:
    """List an app's job definitions."""
    call(url, "GET", f"/v1/apps/{app_name}/job_definitions")


@jobs_cli.command("show")
def jobs_show(
    app_name: Annotated[str, typer.Argument(metavar="APP")], job: str, url: UrlOption = DEFAULT_URL
) -> None:
    """Show one job definition."""
    call(url, "GET", _path(app_name, job))


@jobs_cli.command("create")
def jobs_create(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    job: str,
    command: Annotated[list[str], typer.Argument(help="the argv to run; put it after --")],
    description: Annotated[str, typer.Option("--description")] = "",
    retry_limit: RetryLimitOption = None,
    base_delay: BaseDelayOption = None,
    timeout: TimeoutOption = None,
    memory: MemoryOption = None,
    cpus: CpusOption = None,
    pids_limit: PidsLimitOption = None,
    network: NetworkOption = None,
    message_delivery: MessageDeliveryOption = None,
    priority: PriorityOption = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Define JOB for APP: pitmaster jobs create APP JOB -- CMD [ARG...].

    The rest of the policy (max_delay, jitter, retry_on, retry_exit_codes,
    stop_grace_seconds) is set through the API or `pitmaster apply`.
    """
    body = {"job": job, "command": command, "description": description}
    body |= present(
        retry_limit=retry_limit,
        base_delay=base_delay,
        timeout_seconds=timeout,
        memory=memory,
        cpus=cpus,
        pids_limit=pids_limit,
        network=network,
        message_delivery=message_delivery,
        priority=priority,
    )
    call(url, "POST", f"/v1/apps/{app_name}/job_definitions", body)


@jobs_cli.command("update")
def jobs_update(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    job: str,
    command: Annotated[list[str] | None, typer.Argument(help="new argv; after --")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    retry_limit: RetryLimitOption = None,
    base_delay: BaseDelayOption = None,
    timeout: TimeoutOption = None,
    memory: MemoryOption = None,
    cpus: CpusOption = None,
    pids_limit: PidsLimitOption = None,
    network: NetworkOption = None,
    message_delivery: MessageDeliveryOption = None,
    priority: PriorityOption = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change a job definition's command, description or policy."""
    body = present(
        command=command or None,
        description=description,
        retry_limit=retry_limit,
        base_delay=base_delay,
        timeout_seconds=timeout,
        memory=memory,
        cpus=cpus,
        pids_limit=pids_limit,
        network=network,
        message_delivery=message_delivery,
        priority=priority,
    )
    call(url, "PATCH", _path(app_name, job), body)


@jobs_cli.command("delete")
def jobs_delete(
    app_name: Annotated[str, typer.Argument(metavar="APP")], job: str, url: UrlOption = DEFAULT_URL
) -> None:
    """Delete a job definition (its executions stay)."""
    call(url, "DELETE", _path(app_name, job))
    typer.echo(f"deleted job definition {app_name}/{job}")
