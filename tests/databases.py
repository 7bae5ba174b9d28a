"""Test databases: a SQLite file, or a PostgreSQL database made for one test and dropped after.

A test gets its database already migrated: each test process migrates one
template per backend once (a SQLite file, a PostgreSQL database) and every
test gets a copy of it (a file copy, ``CREATE DATABASE ... TEMPLATE``), with an
installation id of its own so that container names and labels stay apart.
``migrated=False`` gives an empty one, for tests of the migrations themselves.

PostgreSQL is installed and started by ``scripts/ensure-postgres.sh`` when it
is not running; if that fails the tests fail. They never skip.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("sqlite", "postgresql")


@cache
def postgres_admin_url() -> str:
    """The URL of a PostgreSQL superuser, starting the server first if need be."""
    result = subprocess.run(
        [ROOT / "scripts" / "ensure-postgres.sh"], check=True, capture_output=True, text=True
    )
    return result.stdout.strip().splitlines()[-1]


def _new_installation_id() -> str:
    return uuid.uuid4().hex[:12]


def _postgres_url(name: str) -> str:
    return make_url(postgres_admin_url()).set(database=name).render_as_string(hide_password=False)


def _migrate(url: str) -> None:
    from pitmaster.store.store import Store

    store = Store(url)
    try:
        store.migrate()
    finally:
        store.close()  # a template must have no connection left when it is copied


_TEMPLATES: list[Callable[[], None]] = []


def drop_templates() -> None:
    """Remove the templates this process made (at the end of its test session)."""
    while _TEMPLATES:
        _TEMPLATES.pop()()
    _postgres_template.cache_clear()
    _sqlite_template.cache_clear()


@cache
def _postgres_template() -> str:
    """The name of this process's migrated PostgreSQL template, dropped when it exits."""
    name = f"pitmaster_template_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _TEMPLATES.append(lambda: _drop_postgres_database(name))
    _migrate(_postgres_url(name))
    return name


@cache
def _sqlite_template() -> Path:
    """This process's migrated SQLite file, removed when it exits."""
    directory = Path(tempfile.mkdtemp(prefix="pitmaster-template-"))
    _TEMPLATES.append(lambda: shutil.rmtree(directory, ignore_errors=True))
    path = directory / "template.db"
    _migrate(f"sqlite:///{path}")
    return path


def _drop_postgres_database(name: str) -> None:
    with psycopg.connect(postgres_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_database(*, migrated: bool = True) -> Iterator[str]:
    """A new PostgreSQL database for one test (migrated unless told not); dropped afterwards."""
    name = f"pitmaster_test_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{_postgres_template()}"' if migrated else ""
    with psycopg.connect(postgres_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{template}')
    try:
        url = _postgres_url(name)
        if migrated:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("UPDATE installation SET id = %s", (_new_installation_id(),))
        yield url
    finally:
        _drop_postgres_database(name)


def sqlite_database(directory: Path, *, migrated: bool = True) -> str:
    """The URL of a SQLite file in ``directory`` (a migrated copy unless told not)."""
    path = directory / "pitmaster.db"
    if migrated:
        shutil.copyfile(_sqlite_template(), path)
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE installation SET id = ?", (_new_installation_id(),))
        conn.close()
    return f"sqlite:///{path}"


@contextmanager
def database(backend: str, directory: Path, *, migrated: bool = True) -> Iterator[str]:
    """A fresh database of the given backend, as a URL (migrated unless told not)."""
    if backend == "sqlite":
        yield sqlite_database(directory, migrated=migrated)
    elif backend == "postgresql":
        with postgres_database(migrated=migrated) as url:
            yield url
    else:
        raise ValueError(f"unknown database backend {backend!r}")


def dump_all_rows(url: str) -> str:
    """Every row of every table in the database at ``url``, as text: what a stolen copy holds."""
    import sqlalchemy as sa

    from pitmaster.store.engine import create_engine

    engine = create_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        lines = []
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    lines.append(f"{table.name}: {tuple(row)!r}")
                    # repr() escapes non-ASCII text; the plain form is searched too.
                    lines.append(" ".join(str(value) for value in row))
        return "\n".join(lines)
    finally:
        engine.dispose()


class Snapshot:
    """Every row of a PostgreSQL database as it is now, to put back with ``restore()``.

    For tests that make many requests which must each meet the same database: what
    one request creates or deletes would otherwise change the answer to the next
    (a 201 becomes a 409), and a replayed request would not meet what it first met.
    The sequences are put back too, so a row made again gets the same id.
    """

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        from pitmaster.store.engine import create_engine

        if not url.startswith("postgresql"):
            raise ValueError("a snapshot is taken of a PostgreSQL database only")
        self._engine = create_engine(url)
        self._metadata = sa.MetaData()
        self._metadata.reflect(self._engine)
        with self._engine.connect() as conn:
            self._rows = {
                table.name: [dict(row) for row in conn.execute(sa.select(table)).mappings()]
                for table in self._metadata.sorted_tables
            }
            self._sequences = conn.execute(
                sa.text(
                    "SELECT format('%I.%I', schemaname, sequencename), last_value"
                    " FROM pg_sequences WHERE last_value IS NOT NULL"
                )
            ).all()

    def restore(self) -> None:
        """Put back the rows (and sequences) of the moment the snapshot was taken."""
        import sqlalchemy as sa

        tables = self._metadata.sorted_tables
        with self._engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
            for table in reversed(tables):
                conn.execute(table.delete())
            for table in tables:
                if self._rows[table.name]:
                    conn.execute(table.insert(), self._rows[table.name])
            conn.execute(
                sa.text(
                    "SELECT setval(c.oid, COALESCE(s.last_value, 1), s.last_value IS NOT NULL)"
                    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " LEFT JOIN (SELECT unnest(CAST(:names AS text[])) AS name,"
                    " unnest(CAST(:values AS bigint[])) AS last_value) s"
                    " ON s.name = format('%I.%I', n.nspname, c.relname)"
                    " WHERE c.relkind = 'S' AND n.nspname = current_schema()"
                ),
                {
                    "names": [name for name, _ in self._sequences],
                    "values": [value for _, value in self._sequences],
                },
            )

    def close(self) -> None:
        self._engine.dispose()
