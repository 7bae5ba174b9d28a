"""Test databases: a SQLite file, or a PostgreSQL database made for one test and dropped after.

PostgreSQL is installed and started by ``scripts/ensure-postgres.sh`` when it
is not running; if that fails the tests fail. They never skip.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
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


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards."""
    admin = postgres_admin_url()
    name = f"pitmaster_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(backend: str, directory: Path) -> Iterator[str]:
    """A fresh database of the given backend, as a URL."""
    if backend == "sqlite":
        yield f"sqlite:///{directory}/pitmaster.db"
    elif backend == "postgresql":
        with postgres_database() as url:
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
