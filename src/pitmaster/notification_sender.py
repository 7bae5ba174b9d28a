"""Sending one notification over HTTP: a POST with a deadline, and what the receiver said."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from pitmaster.notifications import Request

# What is kept of an answer body, for the target's page.
ANSWER_READ_BYTES = 2000


@dataclass(frozen=True)
class Answer:
    """The receiver's status code (None when there was no answer) and its words, or the error."""

    status_code: int | None
    text: str


class Sender:
    """Posts notifications, each within ``timeout_seconds`` (connecting, sending, reading)."""

    def __init__(self, timeout_seconds: float) -> None:
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_seconds), follow_redirects=False)

    def send(self, request: Request) -> Answer:
        try:
            response = self._client.post(request.url, content=request.body, headers=request.headers)
        except httpx.HTTPError as exc:
            # Never the URL in the text: a Slack webhook URL is its credential.
            return Answer(None, f"{type(exc).__name__}: no answer")
        return Answer(response.status_code, response.text[:ANSWER_READ_BYTES])

    def close(self) -> None:
        self._client.close()
