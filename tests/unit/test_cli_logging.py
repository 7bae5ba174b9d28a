"""What the commands that open the database log about its schema."""

from __future__ import annotations

import logging

import pytest

from pitmaster.cli.database import load_settings


def _alembic_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("alembic")]


def test_given_info_logging_when_alembic_logs_then_only_the_upgrades_it_ran_show(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PITMASTER_LOG_LEVEL", "INFO")
    load_settings()
    caplog.set_level(logging.INFO)

    logging.getLogger("alembic.runtime.plugins").info("setup plugin alembic.autogenerate.types")
    migration = logging.getLogger("alembic.runtime.migration")
    migration.info("Context impl SQLiteImpl.")
    migration.info("Running upgrade 0009 -> 0010, message delivery per job definition")
    migration.warning("something alembic warns about")

    assert _alembic_lines(caplog) == [
        "Running upgrade 0009 -> 0010, message delivery per job definition",
        "something alembic warns about",
    ]
