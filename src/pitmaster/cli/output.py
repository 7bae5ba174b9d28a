"""How commands print what the server answered: JSON with --json, aligned text otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import typer

Column = tuple[str, Callable[[dict[str, Any]], Any]]


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(str(item) for item in value) or "-"
    return " ".join(str(value).split())  # one line a row, whatever the value holds


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> None:
    """Rows under a header line, each column as wide as its widest cell; the last one free."""
    cells = [[_cell(value(row)) for _, value in columns] for row in rows]
    headers = [header for header, _ in columns]
    widths = [
        max([len(header), *(len(line[i]) for line in cells)]) for i, header in enumerate(headers)
    ]
    for line in [headers, *cells]:
        padded = [text.ljust(width) for text, width in zip(line[:-1], widths, strict=False)]
        typer.echo("  ".join([*padded, line[-1]]).rstrip())


def print_fields(lines: Sequence[tuple[str, Any]]) -> None:
    """One labelled line a field, ``-`` for what it does not have."""
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        typer.echo(f"{label:<{width}}  {_cell(value)}")


def show(value: Any, as_json: bool, text: Callable[[Any], None]) -> None:
    """``value`` as JSON with --json, otherwise as ``text`` prints it."""
    if as_json:
        print_json(value)
    else:
        text(value)


def field(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row.get(name)


def limit_text(row: dict[str, Any]) -> Any:
    limit = row.get("max_concurrent_executions")
    return "none" if limit is None else limit


def paused_text(row: dict[str, Any]) -> Any:
    """``no``, or since when and why an app or queue is paused."""
    if row.get("paused_at") is None:
        return "no"
    reason = row.get("pause_reason")
    return f"since {row['paused_at']}" + (f": {reason}" if reason else "")


def show_status(execution: dict[str, Any], asked_about: str | None = None) -> None:
    """An execution as one labelled line a field, ``-`` for what it does not have yet.

    ``asked_about``: the id the user gave, when it is a retry's own message_id.
    """
    lines: list[tuple[str, Any]] = [("message_id", execution["message_id"])]
    attempts = execution.get("attempts")
    if asked_about is not None:
        number = next((a["number"] for a in attempts or [] if a["message_id"] == asked_about), None)
        which = f" (retry {number} of this execution)" if number else ""
        lines.append(("asked about", asked_about + which))
    lines += [
        ("status", execution["status"]),
        ("job", f"{execution['application']}/{execution['job']}"),
        ("queue", execution["queue"]),
        ("created_at", execution["created_at"]),
        ("started_at", execution.get("started_at")),
        ("finished_at", execution.get("finished_at")),
        ("exit_code", execution.get("exit_code")),
        ("reason", execution.get("reason")),
    ]
    if attempts is not None:
        count = len(attempts)
        retries = f" ({count - 1} {'retry' if count == 2 else 'retries'})" if count > 1 else ""  # noqa: PLR2004 -- one retry
        lines.append(("attempts", f"{count}{retries}"))
    if execution.get("pending_reason"):
        lines.append(("waiting", execution["pending_reason"]))
    print_fields(lines)
