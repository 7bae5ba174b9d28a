"""Fixtures of the unit suite: the HTTP API in-process, failing any test that gets a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi.testclient import TestClient

from pitmaster.api.app import create_app
from pitmaster.settings import Settings
from pitmaster.store.store import Store


@contextmanager
def serving(settings: Settings, store: Store) -> Iterator[TestClient]:
    """A client that turns a server error into a 500 response, and fails any test that got one."""
    server_errors: list[str] = []

    def no_server_errors(response: httpx.Response) -> None:
        if response.status_code >= 500:
            server_errors.append(f"{response.request.method} {response.request.url}")

    with TestClient(create_app(settings, store), raise_server_exceptions=False) as client:
        client.event_hooks["response"].append(no_server_errors)
        yield client
    assert server_errors == [], f"requests answered with 5xx: {server_errors}"


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    with serving(settings, store) as client:
        yield client
