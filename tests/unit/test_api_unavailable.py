"""Accepted means durable: with the database out of reach, enqueue answers 503 and stores nothing."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from pitmaster.api.app import create_app
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from ..credentials import ADMIN
from ..processes import free_port


def test_given_an_unreachable_database_when_enqueueing_then_503_saying_so(tmp_path: Path) -> None:
    # Nothing listens on this port: every connection is refused.
    port = free_port()
    url = f"postgresql://pitmaster:pitmaster@127.0.0.1:{port}/pitmaster"
    store = Store(url)
    # The token cannot be checked either: that too is a 503, never a 401.
    client = TestClient(create_app(Settings(database_url=url), store), headers=ADMIN)

    response = client.post(
        "/v2/job_executions", json={"application": "shop", "job": "mail", "message": {}}
    )

    assert response.status_code == 503
    # It says so, and when to try again, but not where the database is nor the driver's words.
    assert response.json() == {"error": "database unavailable"}
    assert response.headers["Retry-After"].isdigit()
    assert str(port) not in response.text and "127.0.0.1" not in response.text
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json() == {"error": "database unavailable"}
    # The console says the same, on its error page with the same headers.
    page = client.get("/", headers={"Cookie": "pitmaster_session=x"})
    assert page.status_code == 503 and str(port) not in page.text
    assert page.headers["X-Frame-Options"] == "DENY" and "Retry-After" in page.headers
    store.close()
