"""HTML form fields to the API's request models, so both check input by one set of rules."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import BaseModel, ValidationError

from pitmaster.errors import InvalidInput, TooLarge
from pitmaster.http_common.validation import describe_validation_error
from pitmaster.models import BASE_DELAY_SECONDS, RETRY_LIMIT, STOP_GRACE_SECONDS
from pitmaster.retry import Ending
from pitmaster.services.inputs import (
    AppCreate,
    AppUpdate,
    JobDefinitionCreate,
    JobDefinitionUpdate,
    QueueCreate,
    QueueUpdate,
)

ModelT = TypeVar("ModelT", bound=BaseModel)

MAX_FORM_BYTES = 1024 * 1024
# At most 20 digits: more is far past any memory, and int() of thousands of digits raises.
_MEMORY = re.compile(r"^\s*(\d{1,20})\s*([kmg]?)i?b?\s*$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


@dataclass
class Form:
    """What a browser posted: every value of every field, as text."""

    values: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        given = self.values.get(name)
        return given[-1] if given else default

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])

    def as_dict(self) -> dict[str, str]:
        return {name: self.get(name) for name in self.values}


class FormInvalid(Exception):
    """The form's input was refused; ``errors`` say why, one line each."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


async def read_form(request: Request) -> Form:
    """The urlencoded body of a POST (no multipart: the console never uploads files)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise TooLarge(f"the form is larger than {MAX_FORM_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the form is not UTF-8") from exc
    form = Form()
    for name, value in parse_qsl(text, keep_blank_values=True):
        form.values.setdefault(name, []).append(value)
    return form


def _validated(model: type[ModelT], data: Mapping[str, Any]) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FormInvalid([describe_validation_error(error) for error in exc.errors()]) from exc


class _Converter:
    """Turns text fields into numbers, collecting every error rather than stopping at one."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def integer(self, name: str, text: str) -> int | None:
        if not text.strip():
            return None
        try:
            return int(text.strip())
        except ValueError:
            self.errors.append(f"{name} must be a whole number (got {text!r})")
            return None

    def number(self, name: str, text: str) -> float | None:
        if not text.strip():
            return None
        try:
            return float(text.strip())
        except ValueError:
            self.errors.append(f"{name} must be a number (got {text!r})")
            return None

    def memory(self, text: str) -> int | None:
        if not text.strip():
            return None
        match = _MEMORY.match(text)
        if match is None:
            self.errors.append(f"memory must be bytes, or a number with k, m or g (got {text!r})")
            return None
        return int(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()]

    def exit_codes(self, text: str) -> list[int] | None:
        parts = [part for part in re.split(r"[\s,]+", text) if part]
        codes = [self.integer("retry_exit_codes", part) for part in parts]
        return [code for code in codes if code is not None] or None

    def check(self) -> None:
        if self.errors:
            raise FormInvalid(self.errors)


def parse_command(text: str) -> list[str]:
    """A JSON array, or else one argument per line (blank lines dropped)."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            parsed = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise FormInvalid([f"command looks like JSON but is not: {exc}"]) from exc
        except RecursionError as exc:
            raise FormInvalid(["command as JSON must be an array of strings"]) from exc
        if not isinstance(parsed, list) or not all(isinstance(a, str) for a in parsed):
            raise FormInvalid(["command as JSON must be an array of strings"])
        return parsed
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def app_create(form: Form) -> AppCreate:
    converter = _Converter()
    limit = converter.integer("max_concurrent_executions", form.get("max_concurrent_executions"))
    converter.check()
    return _validated(
        AppCreate,
        {
            "name": form.get("name").strip(),
            "docker_image": form.get("docker_image").strip(),
            "description": form.get("description"),
            "max_concurrent_executions": limit,
        },
    )


def app_update(form: Form) -> dict[str, Any]:
    converter = _Converter()
    limit = converter.integer("max_concurrent_executions", form.get("max_concurrent_executions"))
    converter.check()
    update = _validated(
        AppUpdate,
        {
            "docker_image": form.get("docker_image").strip(),
            "description": form.get("description"),
            "max_concurrent_executions": limit,
        },
    )
    return update.changes()


def queue_create(form: Form) -> QueueCreate:
    converter = _Converter()
    limit = converter.integer("max_concurrent_executions", form.get("max_concurrent_executions"))
    converter.check()
    return _validated(
        QueueCreate,
        {
            "name": form.get("name").strip(),
            "description": form.get("description"),
            "max_concurrent_executions": limit,
        },
    )


def queue_update(form: Form) -> dict[str, Any]:
    converter = _Converter()
    limit = converter.integer("max_concurrent_executions", form.get("max_concurrent_executions"))
    converter.check()
    update = _validated(
        QueueUpdate,
        {"description": form.get("description"), "max_concurrent_executions": limit},
    )
    return update.changes()


def _policy(form: Form) -> dict[str, Any]:
    """The policy fields: an empty field means the default (or no limit, where null is one)."""
    converter = _Converter()
    values: dict[str, Any] = {
        "retry_limit": converter.integer("retry_limit", form.get("retry_limit")),
        "base_delay": converter.number("base_delay", form.get("base_delay")),
        "max_delay": converter.number("max_delay", form.get("max_delay")),
        "jitter": form.get("jitter") in ("on", "true", "1"),
        "retry_on": form.all("retry_on") or None,
        "retry_exit_codes": converter.exit_codes(form.get("retry_exit_codes")),
        "timeout_seconds": converter.number("timeout_seconds", form.get("timeout_seconds")),
        "stop_grace_seconds": converter.number(
            "stop_grace_seconds", form.get("stop_grace_seconds")
        ),
        "memory": converter.memory(form.get("memory")),
        "cpus": converter.number("cpus", form.get("cpus")),
        "pids_limit": converter.integer("pids_limit", form.get("pids_limit")),
        "network": form.get("network").strip() or None,
    }
    if form.get("retry_on_all") in ("on", "true", "1"):
        values["retry_on"] = None
    converter.check()
    return values


# The policy fields a form may leave empty: empty means the default.
POLICY_DEFAULTS = {
    "retry_limit": RETRY_LIMIT,
    "base_delay": BASE_DELAY_SECONDS,
    "stop_grace_seconds": STOP_GRACE_SECONDS,
}


def job_definition_create(form: Form) -> JobDefinitionCreate:
    data = {
        "job": form.get("job").strip(),
        "command": parse_command(form.get("command")),
        "description": form.get("description"),
        **_policy(form),
    }
    return _validated(JobDefinitionCreate, {k: v for k, v in data.items() if v is not None})


def job_definition_update(form: Form) -> dict[str, Any]:
    data = {
        "command": parse_command(form.get("command")),
        "description": form.get("description"),
        **_policy(form),
    }
    for name, default in POLICY_DEFAULTS.items():
        if data[name] is None:
            data[name] = default
    return _validated(JobDefinitionUpdate, data).changes()


ENDINGS = [ending.value for ending in Ending]
