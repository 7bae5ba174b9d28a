"""A small HTTP client of the pitmaster API, used by the CLI's client commands."""

from __future__ import annotations

import time
from http import HTTPStatus
from typing import Any

import httpx

from pitmaster.errors import PitmasterError
from pitmaster.models import Status

DEFAULT_URL = "http://127.0.0.1:8000"


class ClientError(PitmasterError):
    """The server answered with an error, or could not be reached."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class Unreachable(ClientError):
    """The server did not answer: nothing listens at the URL, or the connection failed."""


_HOW_TO_AUTHENTICATE = (
    "set PITMASTER_TOKEN to an API token (the first start of the server prints an admin "
    "token; `pitmaster token create` makes more)"
)


class Client:
    """Sends ``token`` as ``Authorization: Bearer`` on every request."""

    def __init__(
        self, url: str = DEFAULT_URL, token: str | None = None, timeout: float = 30.0
    ) -> None:
        self._url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self._url, timeout=timeout, headers=headers)
        self._has_token = bool(token)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, json: Any = None, **params: Any) -> Any:
        query = {key: value for key, value in params.items() if value is not None}
        try:
            response = self._http.request(method, path, json=json, params=query)
        except httpx.HTTPError as exc:
            raise Unreachable(f"cannot reach pitmaster at {self._url}: {exc}") from exc
        if response.status_code >= HTTPStatus.BAD_REQUEST:
            try:
                message = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                message = response.text or response.reason_phrase
            if response.status_code == HTTPStatus.UNAUTHORIZED:
                hint = "" if self._has_token else " (PITMASTER_TOKEN is not set)"
                message = f"{message}{hint}; {_HOW_TO_AUTHENTICATE}"
            elif response.status_code == HTTPStatus.FORBIDDEN:
                message = f"{message} (PITMASTER_TOKEN is not an admin token)"
            raise ClientError(f"{response.status_code}: {message}", response.status_code)
        if response.status_code == HTTPStatus.NO_CONTENT or not response.content:
            return None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, **params)

    def find(self, path: str) -> Any | None:
        """GET that answers None for 404 instead of raising."""
        try:
            return self.get(path)
        except ClientError as exc:
            if exc.status_code == HTTPStatus.NOT_FOUND:
                return None
            raise

    def execution(self, reference: str, fields: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/v1/job_executions/{reference}", fields=fields)
        return result

    def attempt(self, reference: str, number: int) -> dict[str, Any]:
        """One attempt of an execution (0 the first run), with its stored stdout and stderr."""
        result: dict[str, Any] = self.get(f"/v1/job_executions/{reference}/attempts/{number}")
        return result

    def wait(
        self, reference: str, fields: str | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """Poll an execution until it has ended, output included (or ``timeout`` seconds pass)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            execution = self.execution(reference, fields)
            ended = Status(execution["status"]).is_terminal
            if ended and not execution.get("output_pending", False):
                return execution
            if deadline is not None and time.monotonic() >= deadline:
                raise ClientError(
                    f"execution {reference} is still {execution['status']} after {timeout} s"
                )
            time.sleep(0.2)
