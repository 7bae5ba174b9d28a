"""Relays in front of a real service, which a test can cut and restore.

A worker pointed at a relay sees the service vanish (connections dropped, new
ones refused) and come back, while the service itself goes on untouched: an
outage as the worker sees it, which no other test running meanwhile sees.
``DockerRelay`` stands before the Docker socket, ``TcpRelay`` before a TCP
service such as PostgreSQL.

With ``hold``, a request a ``DockerRelay`` matches reaches the engine but its
answer never comes back (nor anything after it on that connection): the
caller hangs just after the engine did what it asked, as a worker killed at
that instant would.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

DOCKER_SOCKET = "/var/run/docker.sock"


class DockerRelay:
    def __init__(
        self,
        path: Path,
        upstream: str = DOCKER_SOCKET,
        hold: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.path = path
        self.upstream = upstream
        self._hold = hold
        self.held = 0  # requests whose answers were held back
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self.requests = 0  # HTTP requests relayed to the engine so far

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> None:
        with self._lock:
            listener = self._listen()
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _listen(self) -> socket.socket:
        if self.path.exists():
            self.path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(64)
        return listener

    def _connect_upstream(self) -> socket.socket:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(self.upstream)
        except OSError:
            upstream.close()
            raise
        return upstream

    def _forget_listener(self) -> None:
        if self.path.exists():
            os.unlink(self.path)

    def cut(self) -> None:
        """Drop every connection and refuse new ones (the socket file disappears)."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, set()
        if listener is not None:
            listener.close()
        self._forget_listener()
        for sock in sockets:
            _close(sock)

    restore = start

    def stop(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = self._connect_upstream()
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(upstream)
                    return
                self._open.update((client, upstream))
            muted = threading.Event()

            def inspect(data: bytes, muted: threading.Event = muted) -> None:
                self._count(data)
                if self._hold is not None and self._hold(data):
                    with self._lock:
                        self.held += 1
                    muted.set()

            threading.Thread(target=_pump, args=(client, upstream, inspect), daemon=True).start()
            threading.Thread(
                target=_pump, args=(upstream, client, None, muted), daemon=True
            ).start()

    def _count(self, data: bytes) -> None:
        with self._lock:
            self.requests += data.count(b" HTTP/1.1\r\n")


class TcpRelay(DockerRelay):
    """A relay on 127.0.0.1:``port`` to ``host``:``upstream_port`` (the same port when restored)."""

    def __init__(self, host: str, upstream_port: int, port: int) -> None:
        super().__init__(Path(f"tcp-{port}"))
        self.host = host
        self.upstream_port = upstream_port
        self.port = port

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _listen(self) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        return listener

    def _connect_upstream(self) -> socket.socket:
        return socket.create_connection((self.host, self.upstream_port))

    def _forget_listener(self) -> None:
        pass


def _pump(
    source: socket.socket,
    target: socket.socket,
    inspect: Callable[[bytes], None] | None = None,
    muted: threading.Event | None = None,
) -> None:
    try:
        while data := source.recv(65536):
            if inspect is not None:
                inspect(data)
            if muted is None or not muted.is_set():
                target.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
