"""The ``pitmaster`` command: run the server and worker, and talk to a running server.

Each module holds one group of commands; this one puts them together, in the
order ``pitmaster --help`` lists them. The server-side modules are imported
inside the commands that run them, so that client commands (enqueue,
status, ...) start quickly.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pitmaster import __version__
from pitmaster.cli import (
    apps,
    database,
    executions,
    job_definitions,
    notifications,
    queues,
    schedules,
    secrets,
    serve,
    tokens,
    topics,
)
from pitmaster.cli.exits import EXIT_CODES_HELP, of_error
from pitmaster.cli.help import use_plain_names
from pitmaster.errors import PitmasterError

use_plain_names()

app = typer.Typer(
    help="pitmaster: a job queue that runs every job in its own Docker container.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(apps.apps_cli, name="apps")
app.add_typer(job_definitions.jobs_cli, name="jobs")
app.add_typer(queues.queues_cli, name="queues")
app.add_typer(tokens.token_cli, name="token")
app.add_typer(secrets.secrets_cli, name="secrets")
app.add_typer(topics.topics_cli, name="topics")
app.add_typer(notifications.notifications_cli, name="notifications")
app.add_typer(schedules.schedules_cli, name="schedules")


def main() -> None:
    try:
        app()
    except PitmasterError as exc:
        typer.echo(f"pitmaster: {exc}", err=True)
        sys.exit(of_error(exc))


def version() -> None:
    """Print pitmaster's version."""
    typer.echo(__version__)


def _print_version_and_exit(wanted: bool) -> None:
    if wanted:
        typer.echo(__version__)
        raise typer.Exit


@app.callback()
def _global_options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version_and_exit,
            is_eager=True,
            help="Print pitmaster's version and exit.",
        ),
    ] = False,
) -> None:
    """pitmaster: a job queue that runs every job in its own Docker container."""


# Running pitmaster.
app.command()(serve.up)
app.command()(serve.server)
app.command()(serve.worker)
app.command()(database.migrate)
app.command()(version)

# Talking to a running server.
app.command()(apps.apply)
app.command()(executions.enqueue)
app.command()(executions.cancel)
app.command()(executions.retry)
app.command("retry-all")(executions.retry_all)
app.command()(executions.status)
app.command()(executions.logs)
app.command("list")(executions.list_executions)
app.command()(executions.workers)
