"""The job SDK: write a job as a Python function; ``run()`` reads what pitmaster passed.

A job image runs a script like::

    from pitmaster.job import job, run

    @job("send-mail")
    def send_mail(message: Mail, ctx: Context) -> None:
        ...

    if __name__ == "__main__":
        run()

``run()`` picks the function named by ``BARBEQUE_JOB``, reads the message from
``BARBEQUE_MESSAGE`` or the file named by ``PITMASTER_MESSAGE_FILE`` (whichever
the job got), validates it against the first parameter's type (a pydantic model,
``dict``, ...), and exits with a code that tells the outcome apart:

- 0 when the function returns (or the int it returns),
- 1 when it raises (the traceback goes to stderr),
- ``EXIT_BAD_MESSAGE`` when the message does not fit the parameter's type,
- ``EXIT_NO_SUCH_JOB`` when no function has the job's name,
- ``EXIT_TERMINATED`` after SIGTERM: ``finally`` blocks and context managers run first.

This module imports only the standard library and pydantic, so that a job image
needs nothing of the server.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar, get_type_hints

from pydantic import TypeAdapter, ValidationError

# sysexits.h's EX_DATAERR and EX_USAGE: codes a job's own failure rarely uses.
EXIT_BAD_MESSAGE = 65
EXIT_NO_SUCH_JOB = 64
EXIT_FAILED = 1
EXIT_TERMINATED = 128 + signal.SIGTERM

JobFunction = Callable[..., Any]
F = TypeVar("F", bound=JobFunction)


@dataclass(frozen=True)
class Context:
    """What the job knows about the attempt it runs as, from its environment."""

    job: str
    message_id: str
    attempt_id: str | None
    retry_count: int
    queue: str | None
    application: str | None
    sent_at: datetime | None

    @property
    def is_retry(self) -> bool:
        return self.retry_count > 0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Context:
        sent = environ.get("BARBEQUE_SENT_TIMESTAMP")
        return cls(
            job=environ.get("BARBEQUE_JOB", ""),
            message_id=environ.get("BARBEQUE_MESSAGE_ID", ""),
            attempt_id=environ.get("PITMASTER_ATTEMPT_ID"),
            retry_count=int(environ.get("BARBEQUE_RETRY_COUNT", "0") or 0),
            queue=environ.get("BARBEQUE_QUEUE_NAME"),
            application=environ.get("PITMASTER_APPLICATION"),
            sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
        )


class BadMessage(Exception):
    """The message is missing, not JSON, or does not fit the job's parameter type."""


class Jobs:
    """A set of job functions by name; ``job`` and ``run`` use a module-wide one."""

    def __init__(self) -> None:
        self._functions: dict[str, JobFunction] = {}

    def job(self, name: str | None = None) -> Callable[[F], F]:
        def register(function: F) -> F:
            job_name = name or function.__name__.replace("_", "-")
            if job_name in self._functions:
                raise ValueError(f"two job functions are named {job_name!r}")
            self._functions[job_name] = function
            return function

        return register

    def names(self) -> list[str]:
        return sorted(self._functions)

    def main(self, environ: Mapping[str, str] | None = None) -> int:
        """Run the job ``environ`` names and answer the exit code (``run`` exits with it)."""
        environ = os.environ if environ is None else environ
        name = environ.get("BARBEQUE_JOB", "")
        function = self._functions.get(name)
        if function is None and len(self._functions) == 1 and not name:
            function = next(iter(self._functions.values()))
        if function is None:
            known = ", ".join(self.names()) or "none"
            _say(f"no job function is named {name!r} (BARBEQUE_JOB); known: {known}")
            return EXIT_NO_SUCH_JOB
        try:
            arguments = _arguments(function, environ)
        except BadMessage as exc:
            _say(f"bad message: {exc}")
            return EXIT_BAD_MESSAGE
        return _call(function, arguments)


def read_message(environ: Mapping[str, str]) -> Any:
    """The message as JSON data, from the file when pitmaster put it there, else the env."""
    path = environ.get("PITMASTER_MESSAGE_FILE")
    try:
        if path:
            text = Path(path).read_text(encoding="utf-8")
        elif "BARBEQUE_MESSAGE" in environ:
            text = environ["BARBEQUE_MESSAGE"]
        else:
            raise BadMessage("neither BARBEQUE_MESSAGE nor PITMASTER_MESSAGE_FILE is set")
        return json.loads(text)
    except OSError as exc:
        raise BadMessage(f"cannot read the message file {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise BadMessage(f"the message is not JSON: {exc}") from exc


def _arguments(function: JobFunction, environ: Mapping[str, str]) -> list[Any]:
    parameters = list(inspect.signature(function).parameters.values())
    if not parameters:
        return []
    hints = get_type_hints(function)
    annotation = hints.get(parameters[0].name, Any)
    try:
        typed = TypeAdapter(annotation).validate_python(read_message(environ))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'message'}: {error['msg']}"
            for error in exc.errors()
        )
        raise BadMessage(problems) from exc
    arguments = [typed]
    if len(parameters) > 1:
        arguments.append(Context.from_environment(environ))
    return arguments


def _call(function: JobFunction, arguments: list[Any]) -> int:
    try:
        result = function(*arguments)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            return exc.code or 0
        _say(str(exc.code))
        return EXIT_FAILED
    except Exception:
        traceback.print_exc(file=sys.stderr)
        return EXIT_FAILED
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def _terminate(_signal: int, _frame: FrameType | None) -> None:
    _say("SIGTERM: stopping the job")
    # SystemExit unwinds the job's stack, so its finally blocks and context managers run.
    raise SystemExit(EXIT_TERMINATED)


def _say(line: str) -> None:
    print(f"pitmaster.job: {line}", file=sys.stderr, flush=True)


_default = Jobs()


def job(name: str | None = None) -> Callable[[F], F]:
    """Register a function as the job ``name`` (default: its name, ``_`` as ``-``)."""
    return _default.job(name)


def run(jobs: Jobs | None = None) -> NoReturn:
    """Run the job pitmaster started this container for, and exit with its outcome."""
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit((jobs or _default).main())
