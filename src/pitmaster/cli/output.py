"""How commands print what the server answered."""

from __future__ import annotations

import json
from typing import Any

import typer


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def show_status(execution: dict[str, Any]) -> None:
    """An execution as one labelled line a field, ``-`` for what it does not have yet."""
    lines = [
        ("message_id", execution["message_id"]),
        ("status", execution["status"]),
        ("job", f"{execution['application']}/{execution['job']}"),
        ("queue", execution["queue"]),
        ("created_at", execution["created_at"]),
        ("started_at", execution.get("started_at")),
        ("finished_at", execution.get("finished_at")),
        ("exit_code", execution.get("exit_code")),
        ("reason", execution.get("reason")),
    ]
    if execution.get("pending_reason"):
        lines.append(("waiting", execution["pending_reason"]))
    for label, value in lines:
        typer.echo(f"{label:<12} {'-' if value is None else value}")
