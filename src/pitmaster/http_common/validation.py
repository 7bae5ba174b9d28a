"""Pydantic's validation errors, said in one line each for people."""

from __future__ import annotations

from typing import Any

from pitmaster.services.inputs import PATTERN_MEANINGS

# Fields whose value may be a credential (a Slack webhook URL, a signing secret): an
# error names the field, never repeats the value.
_NEVER_ECHOED = frozenset({"url", "secret"})


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
        if location and location[-1] in _NEVER_ECHOED:
            return f"{where} {meaning}"
        return f"{where} {meaning} (got {error.get('input')!r})"
    return f"{where}: {message}" if where else message
