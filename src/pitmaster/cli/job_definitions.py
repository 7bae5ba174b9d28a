"""``pitmaster jobs``: job definitions, the command an app's job runs and its policies."""

from __future__ import annotations

import shlex
from typing import Annotated, Any
from urllib.parse import quote

import typer

from pitmaster.cli.options import (
    AppArgument,
    BaseDelayOption,
    CpusOption,
    JobArgument,
    JsonOption,
    MemoryOption,
    MessageDeliveryOption,
    NetworkOption,
    PidsLimitOption,
    PriorityOption,
    RetryLimitOption,
    TimeoutOption,
    UrlOption,
)
from pitmaster.cli.output import field, print_fields, print_table, show
from pitmaster.cli.remote import call, connect, present
from pitmaster.client import DEFAULT_URL

jobs_cli = typer.Typer(help="Manage job definitions (the command an app's job runs).")


def _path(app_name: str, job: str) -> str:
    return f"/v1/apps/{app_name}/job_definitions/{quote(job, safe='')}"


def _command_text(definition: dict[str, Any]) -> str:
    """The argv as a shell would take it back: quoted where it needs to be."""
    return shlex.join(definition["command"])


def _jobs_table(definitions: list[dict[str, Any]]) -> None:
    print_table(
        definitions,
        [
            ("JOB", field("job")),
            ("RETRY_LIMIT", field("retry_limit")),
            ("TIMEOUT", field("timeout_seconds")),
            ("COMMAND", _command_text),
        ],
    )


_POLICY = (
    "retry_limit",
    "base_delay",
    "max_delay",
    "jitter",
    "retry_on",
    "retry_exit_codes",
    "timeout_seconds",
    "stop_grace_seconds",
    "memory",
    "cpus",
    "pids_limit",
    "network",
    "message_delivery",
)


def _job_fields(definition: dict[str, Any]) -> None:
    lines: list[tuple[str, Any]] = [
        ("job", f"{definition['application']}/{definition['job']}"),
        ("command", _command_text(definition)),
        ("description", definition.get("description")),
    ]
    lines += [(name, definition[name]) for name in _POLICY if name in definition]
    lines += [("created_at", definition.get("created_at"))]
    lines += [("updated_at", definition.get("updated_at"))]
    print_fields(lines)


@jobs_cli.command("list")
def jobs_list(
    app_name: AppArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """List APP's job definitions."""
    with connect(url) as client:
        show(client.get(f"/v1/apps/{app_name}/job_definitions"), as_json, _jobs_table)


@jobs_cli.command("show")
def jobs_show(
    app_name: AppArgument,
    job: JobArgument,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Show one job definition: its command, shell-quoted, and its policy."""
    with connect(url) as client:
        show(client.get(_path(app_name, job)), as_json, _job_fields)


@jobs_cli.command("create")
def jobs_create(
    app_name: AppArgument,
    job: JobArgument,
    command: Annotated[
        list[str], typer.Argument(metavar="CMD [ARG]", help="the argv to run; put it after --")
    ],
    description: Annotated[str, typer.Option("--description")] = "",
    retry_limit: RetryLimitOption = None,
    base_delay: BaseDelayOption = None,
    timeout: TimeoutOption = None,
    memory: MemoryOption = None,
    cpus: CpusOption = None,
    pids_limit: PidsLimitOption = None,
    network: NetworkOption = None,
    message_delivery: MessageDeliveryOption = None,
    as_json: JsonOption = False,
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
    with connect(url) as client:
        made = client.request("POST", f"/v1/apps/{app_name}/job_definitions", json=body)
    show(made, as_json, lambda _made: typer.echo(f"created job definition {app_name}/{job}"))


@jobs_cli.command("update")
def jobs_update(
    app_name: AppArgument,
    job: JobArgument,
    command: Annotated[
        list[str] | None, typer.Argument(metavar="CMD [ARG]", help="new argv; after --")
    ] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    retry_limit: RetryLimitOption = None,
    base_delay: BaseDelayOption = None,
    timeout: TimeoutOption = None,
    memory: MemoryOption = None,
    cpus: CpusOption = None,
    pids_limit: PidsLimitOption = None,
    network: NetworkOption = None,
    message_delivery: MessageDeliveryOption = None,
    as_json: JsonOption = False,
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
    with connect(url) as client:
        changed = client.request("PATCH", _path(app_name, job), json=body)
    show(changed, as_json, lambda _changed: typer.echo(f"updated job definition {app_name}/{job}"))


@jobs_cli.command("delete")
def jobs_delete(app_name: AppArgument, job: JobArgument, url: UrlOption = DEFAULT_URL) -> None:
    """Delete a job definition (its executions stay)."""
    call(url, "DELETE", _path(app_name, job), quiet=True)
    typer.echo(f"deleted job definition {app_name}/{job}")
