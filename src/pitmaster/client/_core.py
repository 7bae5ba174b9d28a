"""What the sync and the async client share: requests as data, answers, retry timing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any, TypedDict

import httpx

from pitmaster.client.errors import ApiError, ConnectionFailed, error_for
from pitmaster.models import Status

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
# Enqueue and publish are sent again after a connection error or a 503, with the same
# Idempotency-Key, so that the server makes one execution however many times it got it.
DEFAULT_ENQUEUE_ATTEMPTS = 4
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0)
WAIT_INTERVAL = 0.2

JSONObject = dict[str, Any]


class Enqueued(TypedDict):
    """``POST /v2/job_executions``'s answer (barbeque's)."""

    message_id: str
    status: str
    id: int


@dataclass(frozen=True)
class Call:
    """One API request, before it is sent."""

    method: str
    path: str
    json: Any = None
    params: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def query(self) -> dict[str, Any]:
        return {key: value for key, value in self.params.items() if value is not None}


def present(**fields: Any) -> JSONObject:
    """The fields that were given: an update leaves the others as they are."""
    return {key: value for key, value in fields.items() if value is not None}


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def new_idempotency_key() -> str:
    return f"pitmaster-client-{uuid.uuid4()}"


def enqueue_call(  # noqa: PLR0913 -- one parameter per field of the request
    application: str,
    job: str,
    message: Any,
    *,
    queue: str | None,
    delay_seconds: float | None,
    run_at: datetime | None,
    idempotency_key: str,
    priority: int | None = None,
) -> Call:
    body = present(
        application=application,
        job=job,
        queue=queue,
        delay_seconds=delay_seconds,
        run_at=run_at.isoformat() if run_at else None,
        priority=priority,
    )
    body["message"] = message
    return Call("POST", "/v2/job_executions", body, headers={"Idempotency-Key": idempotency_key})


def publish_call(
    topic: str, message: Any, *, delay_seconds: float | None, idempotency_key: str
) -> Call:
    body = {"message": message, **present(delay_seconds=delay_seconds)}
    return Call(
        "POST", f"/v1/topics/{topic}/messages", body, headers={"Idempotency-Key": idempotency_key}
    )


def answer(response: httpx.Response, has_token: bool) -> Any:
    """The decoded body of a success, or the exception an error answer means."""
    if response.status_code >= HTTPStatus.BAD_REQUEST:
        raise error_for(response, has_token)
    if response.status_code == HTTPStatus.NO_CONTENT or not response.content:
        return None
    return response.json()


def unreachable(url: str, exc: httpx.HTTPError) -> ConnectionFailed:
    return ConnectionFailed(f"cannot reach pitmaster at {url}: {exc or type(exc).__name__}")


def worth_retrying(error: Exception) -> bool:
    """Sending again cannot do harm (the request carries an idempotency key) and may help."""
    if isinstance(error, ConnectionFailed):
        return True
    return isinstance(error, ApiError) and error.status_code == HTTPStatus.SERVICE_UNAVAILABLE


def retry_delay(attempt: int) -> float:
    return RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]


def has_ended(execution: Mapping[str, Any]) -> bool:
    """Ended, and its output stored: what ``wait`` waits for."""
    return Status(execution["status"]).is_terminal and not execution.get("output_pending", False)
