"""Settings and the database, for the commands that run pitmaster or work on its database."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pitmaster.errors import NotFound

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


class NoDatabase(NotFound):
    """The database a command would work on has not been set up by a server or ``migrate``."""


def open_existing_store(settings: Settings) -> Store:
    """The store of a database a server already uses, its schema brought up to date quietly.

    For the commands that only read or add rows (``token``, ``secrets rotate``):
    run in the wrong directory, or without PITMASTER_DATABASE_URL, they would
    otherwise make a new, empty database that no server reads, and a token that
    no server accepts. So they refuse, and say which database they looked for.
    """
    from sqlalchemy.engine import make_url

    from pitmaster.store.engine import names_missing_file
    from pitmaster.store.store import Store

    url = make_url(settings.database_url)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        shown += f" ({Path(url.database).resolve()})"
    refusal = NoDatabase(
        f"no pitmaster database at {shown} (PITMASTER_DATABASE_URL), and this command "
        "does not create one: point PITMASTER_DATABASE_URL at the server's database "
        "(or create a new one with `pitmaster migrate`)"
    )
    if names_missing_file(settings.database_url):
        raise refusal
    store = Store(settings.database_url)
    try:
        if not store.has_schema():
            raise refusal
        if settings.log_level.upper() != "DEBUG":
            logging.getLogger("alembic").setLevel(logging.WARNING)
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store


def migrate() -> None:
    """Create or upgrade the database schema (also done on every start)."""
    settings = load_settings()
    store = open_store(settings)
    store.close()
    typer.echo(f"database is up to date ({store.dialect})")
