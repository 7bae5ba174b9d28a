"""Waiting for an execution to end: progress on a terminal, and its output as it comes."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TextIO

from pitmaster.client import Client, ClientError, WaitTimedOut
from pitmaster.models import Status

POLL_SECONDS = 0.2
# Output is read from the engine on every poll: ask for it less often than for the status.
FOLLOW_POLL_SECONDS = 0.5


class Deadline:
    def __init__(self, reference: str, timeout: float | None) -> None:
        self._reference = reference
        self._timeout = timeout
        self._at = None if timeout is None else time.monotonic() + timeout

    def check(self, status: str) -> None:
        if self._at is not None and time.monotonic() >= self._at:
            raise WaitTimedOut(
                f"execution {self._reference} is still {status} after {self._timeout} s"
            )


def _since(timestamp: str | None, now: datetime) -> float | None:
    if not timestamp:
        return None
    seconds = (now - datetime.fromisoformat(timestamp)).total_seconds()
    return max(seconds, 0.0)


def elapsed_text(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:  # noqa: PLR2004 -- a minute
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:  # noqa: PLR2004 -- an hour
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress_line(execution: dict[str, Any], now: datetime) -> str:
    """One line saying where a waited-for execution is: its state, and for how long."""
    status = execution["status"]
    if status == Status.RUNNING:
        running = _since(execution.get("started_at"), now)
        return f"running for {elapsed_text(running)}" if running is not None else "running"
    if status == Status.PENDING:
        waiting = _since(execution.get("created_at"), now) or 0.0
        why = execution.get("pending_reason")
        return f"pending for {elapsed_text(waiting)}" + (f": {why}" if why else "")
    return f"{status}, its output is being read"


class Progress:
    """A line on the terminal (stderr) rewritten in place; nothing when stderr is not one."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._shown = stream.isatty()
        self._width = 0

    def show(self, text: str) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K" + text)
            self._stream.flush()
            self._width = len(text)

    def clear(self) -> None:
        if self._shown and self._width:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._width = 0


def is_settled(execution: dict[str, Any]) -> bool:
    """Ended, and its output stored: nothing about it will change any more."""
    return bool(Status(execution["status"]).is_terminal and not execution.get("output_pending"))


def wait_for_ending(
    client: Client,
    reference: str,
    *,
    fields: str | None = None,
    timeout: float | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Poll an execution until it has ended, its output stored (or ``timeout`` seconds pass)."""
    deadline = Deadline(reference, timeout)
    try:
        while True:
            execution = client.execution(reference, fields)
            if is_settled(execution):
                return execution
            if progress is not None:
                progress.show(progress_line(execution, datetime.now(UTC)))
            deadline.check(execution["status"])
            time.sleep(POLL_SECONDS)
    finally:
        if progress is not None:
            progress.clear()


_TRUNCATED = re.compile(r"\A\[pitmaster: \w+ truncated: [^\]\n]*\]\n")


def new_part(seen: str, now: str) -> str:
    """What ``now`` adds to ``seen``: both are a stream's output, or the end of it, at two times.

    The engine gives only the end of a long output, so ``now`` need not start
    with ``seen``: it starts inside it (or after it, when more than a window
    came in between: then all of ``now`` is new).
    """
    seen, now = _TRUNCATED.sub("", seen), _TRUNCATED.sub("", now)
    if now.startswith(seen):
        return now[len(seen) :]
    head = now[: min(now.find("\n") + 1 or len(now), 256)]  # its first line
    at = seen.find(head) if head else -1
    while at >= 0:  # the earliest place ``now`` continues from: the longest overlap
        if now.startswith(seen[at:]):
            return now[len(seen) - at :]
        at = seen.find(head, at + 1)
    return now


@dataclass
class Follower:
    """Writes each stream's output once, as it grows, attempt after attempt."""

    write_stdout: Callable[[str], None]
    write_stderr: Callable[[str], None]
    announce: Callable[[str], None]
    attempt: int | None = None
    seen: dict[str, str] = field(default_factory=lambda: {"stdout": "", "stderr": ""})

    def take(self, output: dict[str, Any]) -> None:
        number = output.get("attempt")
        if number is None or (self.attempt is not None and number < self.attempt):
            return  # an earlier attempt's stored output, while the next one's is unreadable
        if number != self.attempt:
            if self.attempt is not None:
                self.announce(f"retry {number} began (its own output: logs --attempt {number})")
            self.attempt = number
            self.seen = {"stdout": "", "stderr": ""}
        for stream, write in (("stdout", self.write_stdout), ("stderr", self.write_stderr)):
            text = output.get(stream) or ""
            if text in self.seen[stream]:
                # Nothing new, or less than before: an engine read of a container going
                # away can come back empty. Keep what was seen, or it would print again.
                continue
            part = new_part(self.seen[stream], text)
            if part:
                write(part)
            self.seen[stream] = text


def follow_output(
    client: Client, reference: str, follower: Follower, timeout: float | None
) -> dict[str, Any]:
    """Hand the execution's output to ``follower`` as it comes, until it has ended."""
    deadline = Deadline(reference, timeout)
    while True:
        try:
            output: dict[str, Any] = client.get(f"/v1/job_executions/{reference}/output")
        except ClientError as exc:
            if exc.status_code != HTTPStatus.TOO_MANY_REQUESTS:
                raise
        else:
            follower.take(output)
            if output["ended"]:
                return output
            deadline.check(output["status"])
        time.sleep(FOLLOW_POLL_SECONDS)
