"""Accepted means durable: with the database out of reach, enqueue answers 503 and stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.engine import create_engine
from pitmaster.store.schema import attempts, job_executions
from pitmaster.store.store import Store

from ..credentials import ADMIN
from ..databases import postgres_admin_url
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
    assert response.json()["error"] == "database unavailable"
    assert response.json()["message"] == "database unavailable"  # barbeque's key, same words
    assert response.headers["Retry-After"].isdigit()
    assert str(port) not in response.text and "127.0.0.1" not in response.text
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json() == {"error": "database unavailable"}
    # The console says the same, on its error page with the same headers.
    page = client.get("/", headers={"Cookie": "pitmaster_session=x"})
    assert page.status_code == 503 and str(port) not in page.text
    assert page.headers["X-Frame-Options"] == "DENY" and "Retry-After" in page.headers
    store.close()


# -- the database fails inside the enqueue transaction ------------------------------


@contextmanager
def database_fails_on(statement_part: str) -> Iterator[list[str]]:
    """The database itself fails the first statement containing ``statement_part``.

    PostgreSQL: the server ends that connection just before the statement, as
    a restart or a failover does. SQLite: the engine interrupts the statement
    while it runs. Either way the driver raises its own error, mid-transaction.
    Yields the statements that were made to fail.
    """
    failed: list[str] = []
    interrupted_connections: list[Any] = []

    def before(conn: sa.Connection, cursor: Any, statement: str, *_: object) -> None:
        if failed or statement_part.upper() not in statement.upper():
            return
        failed.append(statement)
        dbapi: Any = conn.connection.dbapi_connection
        if conn.dialect.name == "postgresql":
            with psycopg.connect(postgres_admin_url(), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", (dbapi.info.backend_pid,))
        else:
            interrupted: list[bool] = []

            def interrupt_once() -> int:
                if interrupted:
                    return 0
                interrupted.append(True)
                return 1  # a non-zero answer makes SQLite abort the running statement

            dbapi.set_progress_handler(interrupt_once, 1)
            interrupted_connections.append(dbapi)

    sa.event.listen(sa.Engine, "before_cursor_execute", before)
    try:
        yield failed
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", before)
        for dbapi in interrupted_connections:
            dbapi.set_progress_handler(None, 1)


def _rows(database_url: str, table: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def test_given_the_database_fails_inside_the_enqueue_transaction_then_503_and_nothing_is_stored(
    settings: Settings, store: Store, database_url: str
) -> None:
    # Given an app, and a token the server has checked (authentication succeeds).
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["send-mail"])
    tokens.ensure_admin_tokens(settings, store)
    client = TestClient(create_app(settings, store), headers=ADMIN, raise_server_exceptions=False)
    assert client.get("/v1/job_executions").status_code == 200
    body = {"application": "shop", "job": "mail", "message": {"to": "a@example.com"}}

    # When the database fails on the write of the first attempt: on SQLite the
    # enqueue's second statement (the execution's row is already inserted in the
    # transaction), on PostgreSQL the one statement that writes both.
    with database_fails_on(f"INSERT INTO {attempts.name}") as failed:
        response = client.post("/v2/job_executions", json=body)

    # Then the client is told to try again, and neither row was kept.
    assert failed, "the enqueue never reached the attempt's insert"
    assert response.status_code == 503, response.text
    assert response.json()["error"].startswith("database unavailable")
    assert _rows(database_url, job_executions.name) == 0
    assert _rows(database_url, attempts.name) == 0

    # And once the database answers again, the same request is accepted and kept, once.
    again = client.post("/v2/job_executions", json=body)
    assert again.status_code == 201, again.text
    assert _rows(database_url, job_executions.name) == 1
    assert client.get(f"/v1/job_executions/{again.json()['message_id']}").status_code == 200
    client.close()


# -- a bug in our own SQL is not an outage ------------------------------------------


def test_given_a_statement_the_database_cannot_run_as_written_then_500_not_503(
    settings: Settings, store: Store
) -> None:
    # Given an app, and a server whose token check has already succeeded.
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["send-mail"])
    tokens.ensure_admin_tokens(settings, store)
    client = TestClient(create_app(settings, store), headers=ADMIN, raise_server_exceptions=False)
    assert client.get("/v1/job_executions").status_code == 200
    broken: list[str] = []

    def parameters_that_do_not_fit(
        conn: sa.Connection, cursor: Any, statement: str, parameters: Any, *_: object
    ) -> tuple[str, Any]:
        # A statement given parameters that do not fit its placeholders (one too many
        # for SQLite's, one missing for PostgreSQL's): both drivers raise their
        # ProgrammingError, as for any statement we wrote wrong.
        if not broken and f"INSERT INTO {attempts.name}" in statement:
            broken.append(statement)
            if isinstance(parameters, dict):
                return statement, dict(list(parameters.items())[1:])
            return statement, (*parameters, 1)
        return statement, parameters

    # When the enqueue's statement turns out to be wrong.
    sa.event.listen(
        store.db.engine, "before_cursor_execute", parameters_that_do_not_fit, retval=True
    )
    try:
        response = client.post(
            "/v2/job_executions", json={"application": "shop", "job": "mail", "message": {}}
        )
    finally:
        sa.event.remove(store.db.engine, "before_cursor_execute", parameters_that_do_not_fit)

    # Then it is the server's fault (500), not the database's absence (503, "try again").
    assert broken, f"the enqueue never reached the attempt's insert: {response.text}"
    assert response.status_code == 500, response.text
    assert "Retry-After" not in response.headers
    assert "unavailable" not in response.text
    client.close()
