"""Settings and the database, for the commands that run pitmaster or work on its database."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from pitmaster.settings import Settings
    from pitmaster.store.store import Store


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment, with the options given; also sets up logging."""
    from pydantic import ValidationError

    from pitmaster.settings import Settings

    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        # Without the values given: one of them may be a token.
        problems = "; ".join(
            f"PITMASTER_{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        typer.echo(f"pitmaster: invalid setting: {problems}", err=True)
        raise typer.Exit(2) from exc
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if settings.log_level.upper() != "DEBUG":
        _quiet_alembic()
    return settings


def _only_upgrades(record: logging.LogRecord) -> bool:
    return record.levelno > logging.INFO or record.getMessage().startswith("Running upgrade")


def _quiet_alembic() -> None:
    """Keep alembic's INFO lines to the upgrades it ran.

    Otherwise every command that opens the database (``token list`` too) starts
    with a dozen lines about alembic's plugins and its SQL dialect.
    """
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    migration = logging.getLogger("alembic.runtime.migration")
    if _only_upgrades not in migration.filters:
        migration.addFilter(_only_upgrades)


def open_store(settings: Settings) -> Store:
    """The store, its schema brought up to date."""
    from pitmaster.store.store import Store

    store = Store(settings.database_url)
    store.migrate()
    return store


def migrate() -> None:
    """Create or upgrade the database schema (also done on every start)."""
    settings = load_settings()
    store = open_store(settings)
    store.close()
    typer.echo(f"database is up to date ({store.dialect})")
