"""Options that several commands share, and what they mean for a request."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pitmaster.cli.remote import present

UrlOption = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="PITMASTER_URL",
        metavar="URL",
        help="URL of the pitmaster server; the API token is read from PITMASTER_TOKEN",
    ),
]
HostOption = Annotated[
    str | None, typer.Option("--host", help="address to listen on [env: PITMASTER_HOST]")
]
PortOption = Annotated[
    int | None, typer.Option("--port", help="port to listen on [env: PITMASTER_PORT]")
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="print the answer as JSON, for scripts and jq")
]
# One name a kind of argument, the same in every command's usage line and help.
AppArgument = Annotated[str, typer.Argument(metavar="APP", help="the app's name")]
JobArgument = Annotated[str, typer.Argument(metavar="JOB", help="the job's name")]
QueueArgument = Annotated[str, typer.Argument(metavar="QUEUE", help="the job queue's name")]
TopicArgument = Annotated[str, typer.Argument(metavar="TOPIC", help="the topic's name")]
ExecutionArgument = Annotated[
    str,
    typer.Argument(
        metavar="ID", help="the execution's message_id or numeric id, or a retry's message_id"
    ),
]
TimeoutWaitOption = Annotated[
    float | None,
    typer.Option(
        "--timeout", metavar="SECONDS", help="with --wait or --follow: give up after (exit 5)"
    ),
]
LimitOption = Annotated[
    int | None,
    typer.Option("--max-concurrent", min=1, help="most executions running at once"),
]
NoLimitOption = Annotated[bool, typer.Option("--no-limit", help="remove the concurrency limit")]
RetryLimitOption = Annotated[int | None, typer.Option(help="retries after the first run")]
BaseDelayOption = Annotated[float | None, typer.Option(help="seconds before the first retry")]
TimeoutOption = Annotated[float | None, typer.Option(help="stop the job after this many seconds")]
MemoryOption = Annotated[int | None, typer.Option(help="memory limit in bytes")]
CpusOption = Annotated[
    float | None, typer.Option("--cpus", help="most CPUs the job may use, e.g. 0.5")
]
PidsLimitOption = Annotated[
    int | None, typer.Option("--pids-limit", help="processes and threads the job may have")
]
NetworkOption = Annotated[
    str | None,
    typer.Option("--network", help="Docker network: bridge (the default), none, or a name"),
]
PriorityOption = Annotated[
    int | None,
    typer.Option("--priority", help="priority of its executions when an enqueue names none"),
]
MessageDeliveryOption = Annotated[
    str | None,
    typer.Option(
        "--message-delivery",
        help="env (BARBEQUE_MESSAGE only, as barbeque), file, or auto (env when it fits)",
    ),
]


def limit_fields(max_concurrent: int | None, no_limit: bool) -> dict[str, Any]:
    """The request fields that --max-concurrent and --no-limit ask for."""
    if no_limit and max_concurrent is not None:
        raise typer.BadParameter("give either --max-concurrent or --no-limit, not both")
    if no_limit:
        return {"max_concurrent_executions": None}
    return present(max_concurrent_executions=max_concurrent)
