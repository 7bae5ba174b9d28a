"""Pydantic's validation errors, said in one line each for people."""

from __future__ import annotations

from typing import Any

from pitmaster.services.inputs import PATTERN_MEANINGS


def describe_validation_error(error: Any) -> str:
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    where = ".".join(location)
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "missing":
        return f"{where} is required" if where else "a request body is required"
    if error.get("type") == "extra_forbidden":
        return f"{where} is not a field this request takes"
    if error.get("type") == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        meaning = PATTERN_MEANINGS.get(pattern, f"must match {pattern}")
        return f"{where} {meaning} (got {error.get('input')!r})"
    return f"{where}: {message}" if where else message
