"""Fixtures of the unit suite: the HTTP API in-process, failing any test that gets a 5xx.

``client`` (and ``serving``) authenticate as admin with ``ADMIN_TOKEN`` unless
told otherwise; ``log_in`` opens a console session through the login form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from ..credentials import ADMIN_TOKEN, bearer


@contextmanager
def serving(
    settings: Settings, store: Store, token: str | None = ADMIN_TOKEN, **options: Any
) -> Iterator[TestClient]:
    """A client sending ``token`` (None: no token) to the app ``create_app(settings, store, **options)``.

    It stores the settings' admin token as a server's start does, turns a
    server error into a 500 response, and fails any test that got one.
    """
    tokens.ensure_admin_tokens(settings, store)
    server_errors: list[str] = []

    def no_server_errors(response: httpx.Response) -> None:
        if response.status_code >= 500:
            server_errors.append(f"{response.request.method} {response.request.url}")

    app = create_app(settings, store, **options)
    headers = bearer(token) if token is not None else None
    with TestClient(app, raise_server_exceptions=False, headers=headers) as client:
        client.event_hooks["response"].append(no_server_errors)
        yield client
    assert server_errors == [], f"requests answered with 5xx: {server_errors}"


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    """The API, as an admin."""
    with serving(settings, store) as client:
        yield client


def form_token(client: TestClient, path: str = "/login") -> str:
    """The CSRF token the forms of the page at ``path`` carry (it sets the cookie it needs)."""
    page = client.get(path, follow_redirects=True)
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert match, f"no CSRF token in {path}: {page.status_code} {page.text[:300]}"
    return match.group(1)


def log_in(client: TestClient, token: str = ADMIN_TOKEN) -> None:
    """Open a console session in ``client``'s cookies, through the login form."""
    response = client.post(
        "/login",
        data={"token": token, "csrf_token": form_token(client), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert "pitmaster_session" in client.cookies
