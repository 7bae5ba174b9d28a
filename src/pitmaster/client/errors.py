"""The client's exceptions: one per kind of answer a caller handles differently."""

from __future__ import annotations

from http import HTTPStatus

import httpx

from pitmaster.errors import PitmasterError

_HOW_TO_AUTHENTICATE = (
    "set PITMASTER_TOKEN to an API token (the first start of the server prints an admin "
    "token; `pitmaster token create` makes more)"
)


class ClientError(PitmasterError):
    """The server answered with an error, could not be reached, or a wait ran out."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ConnectionFailed(ClientError):
    """No answer from the server: it is down, unreachable, or too slow (the timeout)."""


class WaitTimedOut(ClientError):
    """``wait`` gave up: the execution had not ended when its timeout ran out."""


class ApiError(ClientError):
    """The server answered 4xx or 5xx; ``server_message`` is its ``{"error": ...}``."""

    def __init__(self, message: str, status_code: int, server_message: str) -> None:
        super().__init__(message, status_code)
        self.server_message = server_message


class InvalidRequest(ApiError):
    """400, 413 or 422: the request was refused as it was; nothing changed."""


class Unauthorized(ApiError):
    """401: no token, or one the server does not know."""


class Forbidden(ApiError):
    """403: the token may not do this (an app token outside its app, say)."""


class NotFound(ApiError):
    """404: no such execution, app, job definition, queue, token or topic."""


class Conflict(ApiError):
    """409: it exists already, or its state does not allow the change."""


class RateLimited(ApiError):
    """429: too many requests from this caller; try again later."""


class ServiceUnavailable(ApiError):
    """503: the server cannot reach its database; nothing was written."""


_BY_STATUS: dict[int, type[ApiError]] = {
    HTTPStatus.BAD_REQUEST: InvalidRequest,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: InvalidRequest,
    HTTPStatus.UNPROCESSABLE_ENTITY: InvalidRequest,
    HTTPStatus.UNAUTHORIZED: Unauthorized,
    HTTPStatus.FORBIDDEN: Forbidden,
    HTTPStatus.NOT_FOUND: NotFound,
    HTTPStatus.CONFLICT: Conflict,
    HTTPStatus.TOO_MANY_REQUESTS: RateLimited,
    HTTPStatus.SERVICE_UNAVAILABLE: ServiceUnavailable,
}


def error_for(response: httpx.Response, has_token: bool) -> ApiError:
    """The exception for an error answer, carrying the server's own message."""
    try:
        server_message = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        server_message = response.text or response.reason_phrase
    message = server_message
    if response.status_code == HTTPStatus.UNAUTHORIZED:
        hint = "" if has_token else " (PITMASTER_TOKEN is not set)"
        message = f"{message}{hint}; {_HOW_TO_AUTHENTICATE}"
    elif response.status_code == HTTPStatus.FORBIDDEN:
        message = f"{message} (PITMASTER_TOKEN is not an admin token)"
    kind = _BY_STATUS.get(response.status_code, ApiError)
    return kind(f"{response.status_code}: {message}", response.status_code, server_message)
