"""The topic pages' forms to the API's request models: one set of rules for both."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pitmaster.http_common.validation import describe_validation_error
from pitmaster.models import MAX_DELAY_SECONDS
from pitmaster.services.inputs import SubscriptionCreate, TopicCreate
from pitmaster.services.topics import PublishOrder
from pitmaster.web.forms import Form, FormInvalid

ModelT = TypeVar("ModelT", bound=BaseModel)


def _validated(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FormInvalid([describe_validation_error(error) for error in exc.errors()]) from exc


def _json(label: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormInvalid([f"{label} is not valid JSON: {exc}"]) from exc


def _names(text: str) -> list[str]:
    """A list typed as names separated by commas or spaces."""
    return [name for name in text.replace(",", " ").split() if name]


def topic_create(form: Form) -> TopicCreate:
    return _validated(
        TopicCreate,
        {
            "name": form.get("name").strip(),
            "description": form.get("description"),
            "publishers": _names(form.get("publishers")),
        },
    )


def subscription_create(form: Form) -> SubscriptionCreate:
    text = form.get("filter").strip()
    data: dict[str, Any] = {
        "application": form.get("application").strip(),
        "job": form.get("job").strip(),
        "queue": form.get("queue").strip() or "default",
        "filter": _json("the filter", text) if text else None,
    }
    return _validated(SubscriptionCreate, data)


def publish_order(topic: str, form: Form) -> PublishOrder:
    message = _json("the message", form.get("message").strip() or "{}")
    if message is None:
        raise FormInvalid(["the message cannot be null"])
    delay_text = form.get("delay_seconds").strip()
    try:
        delay = float(delay_text) if delay_text else None
    except ValueError as exc:
        raise FormInvalid(["delay must be a number of seconds"]) from exc
    if delay is not None and not 0 <= delay <= MAX_DELAY_SECONDS:
        raise FormInvalid([f"delay must be from 0 to {MAX_DELAY_SECONDS} seconds"])
    return PublishOrder(topic, message, delay_seconds=delay)
