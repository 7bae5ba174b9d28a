"""Building the SQLAlchemy engine for a database URL, with the settings each database needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

# A connection opened with this execution option begins its transactions with
# BEGIN IMMEDIATE on SQLite: the write lock is taken up front, so two claimers
# cannot both read the same pending row and then race to update it.
WRITE_INTENT = "pitmaster_write_intent"


def normalize_url(database_url: str) -> URL:
    """Map ``postgresql://`` onto the psycopg 3 driver; keep every other URL as given."""
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def names_missing_file(database_url: str) -> bool:
    """Whether the URL is a SQLite file that does not exist (opening it would create it)."""
    url = normalize_url(database_url)
    if url.get_backend_name() != "sqlite":
        return False
    return not url.database or url.database == ":memory:" or not Path(url.database).is_file()


def create_engine(database_url: str) -> sa.Engine:
    url = normalize_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_engine(url: URL) -> sa.Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that the
        # "begin" listener below decides how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE_INTENT, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
