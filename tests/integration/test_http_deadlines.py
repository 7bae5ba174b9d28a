"""Slow clients against the real ``pitmaster server``: header and body deadlines, the connection cap.

No Docker here: only the HTTP server process, on SQLite, with short deadlines.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..credentials import ADMIN
from ..processes import Deployment

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
SLACK = 8.0  # two shared cores, busy with other tests: time to notice, not to be lenient
PARTIAL_HEADERS = b"GET /v1/apps HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def start_server(tmp_path: Path, **settings: str) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path)
    env = {
        "PITMASTER_HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "PITMASTER_HTTP_BODY_TIMEOUT": str(BODY_TIMEOUT),
        **settings,
    }
    try:
        deployment.wait_healthy(deployment.start("server", "--port", str(deployment.port), env=env))
        yield deployment
    finally:
        deployment.stop_all()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Deployment]:
    yield from start_server(tmp_path)


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[Deployment]:
    yield from start_server(tmp_path, PITMASTER_HTTP_MAX_CONNECTIONS="20")


def slow_clients(deployment: Deployment, count: int, first_bytes: bytes) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", deployment.port), timeout=10)
        sock.sendall(first_bytes)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets


def wait_all_closed(sockets: list[socket.socket], deadline: float) -> dict[socket.socket, bytes]:
    """What the server sent each socket before closing it; fails if one is open at ``deadline``."""
    received = dict.fromkeys(sockets, b"")
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        open_ = set(sockets)
        while open_ and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
                fileobj = key.fileobj
                assert isinstance(fileobj, socket.socket)
                sock = fileobj
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if data:
                    received[sock] += data
                else:
                    selector.unregister(sock)
                    open_.discard(sock)
    for sock in sockets:
        sock.close()
    assert not open_, f"{len(open_)} of {len(sockets)} connections still open"
    return received


def test_given_300_clients_sending_partial_headers_then_all_are_closed_and_others_are_served(
    server: Deployment,
) -> None:
    # Given 300 connections that each sent part of a request's headers,
    attack = slow_clients(server, 300, PARTIAL_HEADERS)
    started = time.monotonic()

    # when a normal client asks meanwhile, then it is answered,
    with server.api() as api:
        assert api.get("/v1/apps").status_code == 200

    # and every slow connection is answered 408 and closed once the header deadline passes.
    received = wait_all_closed(attack, started + HEADER_TIMEOUT + SLACK)
    assert all(data.startswith(b"HTTP/1.1 408 ") for data in received.values())
    with server.api() as api:
        assert api.get("/v1/apps").status_code == 200


def test_given_a_client_trickling_its_headers_then_the_deadline_is_a_total_not_an_idle_timer(
    server: Deployment,
) -> None:
    [sock] = slow_clients(server, 1, b"GET / HTTP/1.1\r\n")
    started = time.monotonic()
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        # A byte at a time, each well inside the deadline, until the server answers.
        while not selector.select(timeout=0.2):
            assert time.monotonic() < started + HEADER_TIMEOUT + SLACK, "never closed"
            sock.send(b"X-Slow: a\r\n")
    [data] = wait_all_closed([sock], started + HEADER_TIMEOUT + SLACK).values()
    assert data.startswith(b"HTTP/1.1 408 ")


def test_given_a_client_that_connects_and_sends_nothing_then_it_is_closed(
    server: Deployment,
) -> None:
    silent = slow_clients(server, 5, b"")
    received = wait_all_closed(silent, time.monotonic() + HEADER_TIMEOUT + SLACK)
    assert set(received.values()) == {b""}


def test_given_a_slow_body_then_408_and_closed_and_nothing_is_made(server: Deployment) -> None:
    body = b'{"name": "slow", "docker_image": "alpine:3"}'
    head = (
        "POST /v1/apps HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {ADMIN['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    [sock] = slow_clients(server, 1, head + body[:10])
    started = time.monotonic()
    rest = iter(body[10:-1])  # never the last byte
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        while not selector.select(timeout=0.2):
            assert time.monotonic() < started + BODY_TIMEOUT + SLACK, "never closed"
            sock.send(bytes([next(rest)]))
    [data] = wait_all_closed([sock], started + BODY_TIMEOUT + SLACK).values()
    assert data.startswith(b"HTTP/1.1 408 ")
    with server.api() as api:
        assert api.get("/v1/apps").json() == []


def test_given_more_connections_than_the_cap_then_a_request_beyond_it_gets_503(
    small_server: Deployment,
) -> None:
    attack = slow_clients(small_server, 25, PARTIAL_HEADERS)
    started = time.monotonic()

    beyond = httpx.get(f"{small_server.url}/healthz", timeout=10)

    assert beyond.status_code == 503
    wait_all_closed(attack, started + HEADER_TIMEOUT + SLACK)
    assert httpx.get(f"{small_server.url}/healthz", timeout=10).status_code == 200
