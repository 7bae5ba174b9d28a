"""ASGI middleware guarding every request: security headers, rate limits, body size.

Plain ASGI rather than Starlette's BaseHTTPMiddleware, so that a body is
counted as it arrives and never read past its cap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pitmaster.http_common.ratelimit import RateLimiter

HeadersFor = Callable[[str], Iterable[tuple[str, str]]]


async def send_error(
    send: Send, status: int, message: str, headers: Iterable[tuple[str, str]] = ()
) -> None:
    """Answer ``{"error": message}`` with ``status``, as every API error is."""
    body = json.dumps({"error": message}).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Adds the headers ``headers_for(path)`` gives to every response that lacks them."""

    def __init__(self, app: ASGIApp, headers_for: HeadersFor) -> None:
        self.app = app
        self.headers_for = headers_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(self.headers_for(scope["path"]))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ServerErrors:
    """An unexpected exception is answered as every error is (``answer(scope)``), inside
    the security headers; then raised on, for the server to log."""

    def __init__(self, app: ASGIApp, answer: Callable[[Scope], Response]) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if not started:
                await self.answer(scope)(scope, receive, send)
            raise


class RateLimit:
    """429 with Retry-After for a caller over its rate; ``exempt`` paths are never limited."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, exempt: frozenset[str]) -> None:
        self.app = app
        self.limiter = limiter
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        wait = self.limiter.take(self.limiter.caller_of(scope))
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            await send_error(
                send,
                429,
                f"too many requests: at most {self.limiter.rate:g} a second "
                f"(bursts of {self.limiter.burst}); retry in {retry_after} s",
                [("Retry-After", str(retry_after))],
            )
            return
        await self.app(scope, receive, send)


class _BodyTooLarge(Exception):
    """Raised into the application when the body it reads passes the cap."""


class BodyLimit:
    """413 for a body over ``max_bytes``: by its Content-Length, or as a chunked body arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return f"request body is larger than {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal_by_header(scope)
        if refusal is not None:
            await send_error(send, *refusal)
            return
        await self._call_counting(scope, receive, send)

    def _refusal_by_header(self, scope: Scope) -> tuple[int, str] | None:
        """The status and error to answer before reading, if Content-Length already rules it out."""
        declared = _content_length(scope)
        if declared == -1:
            return 400, "Content-Length is not a number of bytes"
        if declared is not None and declared > self.max_bytes:
            return 413, self._too_large()
        return None

    async def _call_counting(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the application, answering 413 as soon as the body it reads passes the cap."""
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLarge(self._too_large())
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Whatever the application answers to the error raised into it, the answer is 413.
            if exceeded:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await send_error(send, 413, self._too_large())


def _content_length(scope: Scope) -> int | None:
    """The declared body length; None if not declared, -1 if not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else -1
    return None
