"""Fixtures shared by every test suite: a fresh SQLite database, its settings, a manual clock.

Add new fixtures under the section they belong to; keep suite-specific ones in
that suite's own ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from pitmaster.settings import Settings
from pitmaster.store.store import Store

from .credentials import ADMIN_TOKEN
from .databases import BACKENDS, database, drop_templates

# -- test processes -----------------------------------------------------------------


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse to run if ``--dist loadgroup`` would ignore the ``xdist_group`` marks.

    Tests sharing a group (one second Docker engine, one browser) must run in
    one process, one after another; pytest-xdist marks them by renaming their
    node ids, which some pytest releases silently undo (9.2 does).
    """
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
            raise pytest.UsageError(
                f"{item.nodeid}: its xdist_group mark is ignored by this pytest and"
                " pytest-xdist; pin versions that keep it (see pyproject.toml)"
            )


# -- database ---------------------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Each test process drops the database templates it made."""
    drop_templates()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of this test's own, shared by ``store`` and ``settings``.

    Every test that uses it runs twice: on a SQLite file and on a PostgreSQL
    database made for it (and dropped afterwards), each a copy of a migrated
    template (``tests/databases.py``).
    """
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A store on ``database_url``, with the real clock."""
    store = Store(database_url)
    store.migrate()
    yield store
    store.close()


# -- settings ---------------------------------------------------------------------


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings on the same database as ``store``, tuned for fast tests, with ``ADMIN_TOKEN``."""
    return Settings(
        database_url=database_url,
        poll_interval=0.05,
        worker_id="test-worker",
        admin_token=SecretStr(ADMIN_TOKEN),
    )


# -- time -------------------------------------------------------------------------


class ManualClock:
    """A clock that only moves when a test moves it (``Store(url, clock=clock)``)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC))


@pytest.fixture
def clocked_store(database_url: str, clock: ManualClock) -> Iterator[Store]:
    """A migrated store on the same file as ``store``, whose time is ``clock``."""
    store = Store(database_url, clock=clock)
    store.migrate()
    yield store
    store.close()
