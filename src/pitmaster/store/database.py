"""The database itself: its engine, transactions, schema migrations and wake-ups.

Every query class of the store (``catalog.py``, ``executions.py`` ...) runs its
statements in a transaction from here, so driver errors are translated in one place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from importlib import resources

import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig

from pitmaster.errors import InvalidInput, StoreError
from pitmaster.models import MAX_PAGE_SIZE
from pitmaster.store import wakeups
from pitmaster.store.engine import WRITE_INTENT, create_engine
from pitmaster.store.schema import installation

Clock = Callable[[], datetime]
# How long a writer waits for its turn among this process's SQLite writers.
SQLITE_WRITER_WAIT = 30.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class Database:
    """One database (SQLite or PostgreSQL), its clock, and the transactions on it."""

    def __init__(self, database_url: str, clock: Clock = utc_now) -> None:
        self.engine = create_engine(database_url)
        self.now = clock
        self._installation_id: str | None = None
        # SQLite has one writer at a time. Its busy handler polls for the lock with
        # growing sleeps, so under contention writers wait longer than the lock is
        # held, and one can starve past the busy timeout; this process's writers
        # queue on a lock instead (other processes still meet the busy handler).
        self._sqlite_writers = threading.RLock() if self.dialect == "sqlite" else None
        # Wakes workers after enqueues that commit without a NOTIFY of their own.
        self.work_notifier = wakeups.WorkNotifier(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.work_notifier.close()
        self.engine.dispose()

    @contextmanager
    def _transaction(self, *, write: bool, autocommit: bool = False) -> Iterator[sa.Connection]:
        if write and self._sqlite_writers is not None:
            if not self._sqlite_writers.acquire(timeout=SQLITE_WRITER_WAIT):
                raise StoreError(f"database unavailable: no write turn in {SQLITE_WRITER_WAIT} s")
            try:
                with self._transaction_unlocked(write=write, autocommit=autocommit) as conn:
                    yield conn
            finally:
                self._sqlite_writers.release()
            return
        with self._transaction_unlocked(write=write, autocommit=autocommit) as conn:
            yield conn

    @contextmanager
    def _transaction_unlocked(self, *, write: bool, autocommit: bool) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as connection:
                if autocommit:
                    connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                    yield connection
                    return
                if write:
                    connection = connection.execution_options(**{WRITE_INTENT: True})
                with connection.begin():
                    yield connection
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
            # A duplicate is for the caller to explain; a ProgrammingError is a bug in
            # our SQL, not an outage, so it must not read as "database unavailable".
            raise
        except sa.exc.DataError as exc:
            # A value the database cannot hold (NUL in text on PostgreSQL, a number out
            # of range): the caller's input, not the database, is at fault.
            raise InvalidInput(
                f"the database cannot hold a value given: {exc.orig or exc}"
            ) from exc
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DatabaseError) as exc:
            raise StoreError(f"database unavailable: {exc.orig or exc}") from exc

    def reading(self) -> AbstractContextManager[sa.Connection]:
        """A read transaction."""
        return self._transaction(write=False)

    def writing(self) -> AbstractContextManager[sa.Connection]:
        """A write transaction (on SQLite it takes the write lock up front)."""
        return self._transaction(write=True)

    def autocommit(self) -> AbstractContextManager[sa.Connection]:
        """A connection on which each statement is its own transaction, committed when it returns.

        For a single statement that does all of a change: no BEGIN and no COMMIT
        to wait for besides the statement's own round trip.
        """
        return self._transaction(write=True, autocommit=True)

    def migrate(self) -> None:
        """Bring the schema up to date (idempotent; run on every start)."""
        config = AlembicConfig()
        config.set_main_option(
            "script_location", str(resources.files("pitmaster.store") / "migrations")
        )
        with self.writing() as connection:
            config.attributes["connection"] = connection
            alembic_command.upgrade(config, "head")

    def has_schema(self) -> bool:
        """Whether pitmaster's schema is here: a server or ``migrate`` has set this database up."""
        try:
            return sa.inspect(self.engine).has_table("alembic_version")
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise StoreError(f"database unavailable: {exc.orig or exc}") from exc

    def installation_id(self) -> str:
        """This database's identity, part of every container name it hands out."""
        if self._installation_id is None:
            with self.reading() as conn:
                self._installation_id = conn.execute(sa.select(installation.c.id)).scalar_one()
        return self._installation_id

    def listen_for_work(self, wake: Callable[[], None], stopping: threading.Event) -> None:
        """Call ``wake`` whenever work may have become runnable, until ``stopping`` is set.

        PostgreSQL delivers this at once with LISTEN/NOTIFY. SQLite has no such
        channel: this returns at once and workers rely on their poll interval.
        """
        if self.dialect != "postgresql":
            return
        conninfo = self.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        wakeups.listen(conninfo, wake, stopping)


def page_size(limit: int) -> int:
    """``limit`` when it is a page size the store serves, else InvalidInput."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be from 1 to {MAX_PAGE_SIZE}, not {limit}")
    return limit
