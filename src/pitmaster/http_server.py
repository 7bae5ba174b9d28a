"""The HTTP server of ``pitmaster server`` and ``up``: uvicorn, with deadlines for slow clients.

uvicorn closes idle keep-alive connections and answers 503 beyond a number of
connections, but waits for ever for the rest of a request's headers or body.
A client that sends a few bytes now and then (slowloris) would hold a
connection, and with enough of them every connection, indefinitely. So each
connection here has, besides uvicorn's keep-alive timeout and its cap:

- a **header deadline**: the headers of a request must be complete within
  ``http_header_timeout`` seconds of the connection opening (or, on a kept-alive
  connection, of the first byte of the next request). Sent nothing: closed;
  sent part of a request: ``408`` and closed.
- a **body deadline**: the whole body must have arrived within
  ``http_body_timeout`` seconds of the end of the headers. Otherwise ``408``
  (when no answer has started) and the connection closes; the route sees the
  client as gone, so nothing half-read is acted on.

Both are totals, not idle timers, so trickling a byte at a time does not
stretch them. Neither runs while the application works on a request.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from pitmaster.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deadlines:
    header_seconds: float
    body_seconds: float

    @classmethod
    def of(cls, settings: Settings) -> Deadlines:
        return cls(settings.http_header_timeout, settings.http_body_timeout)


def _timeout_answer(what: str) -> bytes:
    body = json.dumps({"error": f"request timeout: the {what} took too long"}).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "x-content-type-options: nosniff\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request misses its ``deadlines``."""

    deadlines: Deadlines
    _header_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Arm the deadline for what the connection waits for now, cancel the others."""
        state = self.conn.their_state
        if self.transport.is_closing():
            self._cancel_timers()
        elif state is h11.IDLE:
            self._cancel_body_timer()
            # An idle keep-alive connection is uvicorn's keep-alive timer's; the
            # deadline starts with the next request's first byte.
            if self._header_timer is None and self.timeout_keep_alive_task is None:
                self._header_timer = self.loop.call_later(
                    self.deadlines.header_seconds, self._headers_too_slow
                )
        elif state is h11.SEND_BODY:
            self._cancel_header_timer()
            if self._body_timer is None and not (self.cycle and self.cycle.response_complete):
                self._body_timer = self.loop.call_later(
                    self.deadlines.body_seconds, self._body_too_slow
                )
        else:
            self._cancel_timers()

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:  # part of a request came: say why it ends
            self.transport.write(_timeout_answer("request's headers"))
        self.transport.close()

    def _body_too_slow(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None or cycle.response_complete:
            return
        if self.conn.their_state is not h11.SEND_BODY:
            return
        logger.info("closing a connection whose request body did not arrive in time")
        if not cycle.response_started:
            self.transport.write(_timeout_answer("request's body"))
        # The route waiting for the body is told the client is gone.
        cycle.disconnected = True
        cycle.message_event.set()
        self.transport.close()

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_header_timer()
        self._cancel_body_timer()


def protocol_with(deadlines: Deadlines) -> type[H11Protocol]:
    """uvicorn's h11 protocol, with ``deadlines`` on receiving headers and bodies."""
    # uvicorn makes the protocol itself, from a class: the deadlines travel as its attribute.
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,), {"deadlines": deadlines})


def config_for(app: FastAPI, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol_with(Deadlines.of(settings)),
        timeout_keep_alive=settings.http_keep_alive_timeout,
        # uvicorn answers 503 to a request once this many connections are open.
        limit_concurrency=settings.http_max_connections,
        log_config=None,
        access_log=False,
    )


def serve(app: FastAPI, settings: Settings, on_shutdown: Callable[[], None] | None = None) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, running ``on_shutdown`` before uvicorn returns."""

    class Server(uvicorn.Server):
        # uvicorn re-raises the signal that stopped it once it is done; run
        # on_shutdown (stopping the worker cleanly) before that happens.
        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                try:
                    yield
                finally:
                    if on_shutdown is not None:
                        on_shutdown()

    Server(config_for(app, settings)).run()
