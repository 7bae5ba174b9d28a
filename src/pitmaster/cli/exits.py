"""The exit codes of the ``pitmaster`` command: one for each way a command can end.

Scripts tell "the job failed" from "the server is down" by these alone, so
each outcome has its own code, and the codes never change meaning.
"""

from __future__ import annotations

from enum import IntEnum
from http import HTTPStatus

import typer

from pitmaster.client import ClientError, ConnectionFailed, WaitTimedOut
from pitmaster.errors import NotFound, PitmasterError


class ExitCode(IntEnum):
    OK = 0
    REFUSED = 1  # the server refused the request (other than not found), or it failed
    USAGE = 2  # bad arguments, options or settings: nothing was sent
    NOT_FOUND = 3  # no such execution, app, job, queue, topic ... (or no database)
    UNREACHABLE = 4  # the server did not answer at all
    WAIT_TIMEOUT = 5  # --wait or --follow gave up before the execution ended
    FAILED = 6  # the execution ended failed (its job exited non-zero, timed out, ...)
    ERROR = 7  # the execution ended error (pitmaster or the engine could not run it)
    CANCELLED = 8  # the execution was cancelled
    ENGINE_REFUSED = 9  # `pitmaster worker` stopped: its engine shares another engine's identity


_BY_ENDING = {
    "success": ExitCode.OK,
    "failed": ExitCode.FAILED,
    "error": ExitCode.ERROR,
    "cancelled": ExitCode.CANCELLED,
}


def of_ending(status: str) -> ExitCode:
    """The exit code of a command that waited for an execution that ended with ``status``."""
    return _BY_ENDING.get(status, ExitCode.REFUSED)


def end_with_ending(status: str) -> None:
    """Leave the command with the exit code of how the execution ended."""
    raise typer.Exit(of_ending(status))


EXIT_CODES_HELP = (
    "Exit codes: 0 done (with --wait or --follow: the execution succeeded); "
    "1 the server refused the request; 2 bad arguments or settings; "
    "3 not found; 4 the server cannot be reached; 5 --wait or --follow timed out; "
    "6 the execution failed; 7 it ended in error; 8 it was cancelled; "
    "9 (worker) its Docker engine has another engine's identity."
)


def of_error(exc: PitmasterError) -> ExitCode:
    """The exit code of a command that stopped on ``exc``."""
    if isinstance(exc, ConnectionFailed):
        return ExitCode.UNREACHABLE
    if isinstance(exc, WaitTimedOut):
        return ExitCode.WAIT_TIMEOUT
    if isinstance(exc, NotFound) or (
        isinstance(exc, ClientError) and exc.status_code == HTTPStatus.NOT_FOUND
    ):
        return ExitCode.NOT_FOUND
    return ExitCode.REFUSED
