"""A tiny HTTP receiver on 127.0.0.1 for notification tests: it records every POST it gets,
and can be told to answer 500 for a while, or to be slow."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # time.time() when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []  # answered 2xx
        self.refused: list[Received] = []  # answered 500
        self.failing = False
        self.delay_seconds = 0.0
        self.release = threading.Event()  # a slow receiver answers once set, or after the delay
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def take(self, received: Received) -> int:
        if self.delay_seconds:
            self.release.wait(self.delay_seconds)
        with self._lock:
            if self.failing:
                self.refused.append(received)
                return 500
            self.received.append(received)
            return 200

    def delivery_ids(self) -> list[str]:
        with self._lock:
            return [r.headers["Pitmaster-Delivery"] for r in self.received]

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                arrived = time.time()
                headers = dict(self.headers.items())
                status = receiver.take(Received(self.path, headers, body, arrived))
                answer = b"ok" if status == 200 else b"receiver is down"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.release.set()
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)


@contextmanager
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as started:
        yield started
