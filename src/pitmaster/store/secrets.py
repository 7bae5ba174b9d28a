"""The queries over ``app_secrets``: sealed values in, names out, sealed values to the runner."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from pitmaster.errors import Conflict, InvalidInput, NotFound
from pitmaster.models import AppSecret, SealedSecret
from pitmaster.store.database import Database
from pitmaster.store.schema import app_secrets, apps

if TYPE_CHECKING:
    from pitmaster.store.catalog import Catalog


def put(conn: sa.Connection, now: datetime, app_id: int, name: str, ciphertext: str) -> bool:
    """Store a sealed value under ``name``, replacing any; True when it was new."""
    s = app_secrets.c
    replaced = conn.execute(
        app_secrets.update()
        .where(s.app_id == app_id, s.name == name)
        .values(ciphertext=ciphertext, updated_at=now)
    ).rowcount
    if replaced:
        return False
    conn.execute(
        app_secrets.insert().values(
            app_id=app_id, name=name, ciphertext=ciphertext, created_at=now, updated_at=now
        )
    )
    return True


def count(conn: sa.Connection, app_id: int) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(app_secrets)
            .where(app_secrets.c.app_id == app_id)
        ).scalar_one()
    )


def delete(conn: sa.Connection, app_id: int, name: str) -> bool:
    s = app_secrets.c
    deleted = conn.execute(app_secrets.delete().where(s.app_id == app_id, s.name == name)).rowcount
    return bool(deleted)


def names(conn: sa.Connection, app: str) -> list[AppSecret]:
    """An app's secrets by name, without their values."""
    s = app_secrets.c
    rows = conn.execute(
        sa.select(s.name, s.created_at, s.updated_at)
        .join(apps, apps.c.id == s.app_id)
        .where(apps.c.name == app)
        .order_by(s.name)
    ).all()
    return [
        AppSecret(app=app, name=row.name, created_at=row.created_at, updated_at=row.updated_at)
        for row in rows
    ]


def sealed_of_app(conn: sa.Connection, app_id: int | None) -> Mapping[str, str]:
    """An app's sealed values by name (the app by id), for the runner to open for a job."""
    s = app_secrets.c
    rows = conn.execute(sa.select(s.name, s.ciphertext).where(s.app_id == app_id)).all()
    return {row.name: row.ciphertext for row in rows}


def all_sealed(conn: sa.Connection) -> list[SealedSecret]:
    s = app_secrets.c
    rows = conn.execute(
        sa.select(s.id, apps.c.name.label("app"), s.name, s.ciphertext)
        .join(apps, apps.c.id == s.app_id)
        .order_by(s.id)
    ).all()
    return [
        SealedSecret(id=row.id, app=row.app, name=row.name, ciphertext=row.ciphertext)
        for row in rows
    ]


def reseal(conn: sa.Connection, secret: SealedSecret, ciphertext: str) -> bool:
    """Replace a sealed value with the same value sealed anew, unless it changed meanwhile."""
    s = app_secrets.c
    updated = conn.execute(
        app_secrets.update()
        .where(s.id == secret.id, s.ciphertext == secret.ciphertext)
        .values(ciphertext=ciphertext)
    ).rowcount
    return bool(updated)


class Secrets:
    """The queries about apps' secrets, which the store only ever holds sealed."""

    def __init__(self, db: Database, catalog: Catalog) -> None:
        self._db = db
        self._catalog = catalog

    def put_secret(self, app: str, name: str, ciphertext: str, max_per_app: int) -> bool:
        """Store an app's secret, sealed, replacing one of that name; True when it is new."""
        app_id = self._catalog.get_app(app).id
        for _ in range(2):
            try:
                with self._db.writing() as conn:
                    created = put(conn, self._db.now(), app_id, name, ciphertext)
                    if created and count(conn, app_id) > max_per_app:
                        raise InvalidInput(
                            f"app {app!r} already has {max_per_app} secrets, the most it may have"
                        )
                return created
            except sa.exc.IntegrityError:
                continue  # set at the same moment by another request: replace that one
        raise Conflict(f"secret {name} of app {app!r} changed while being set; try again")

    def delete_secret(self, app: str, name: str) -> None:
        app_id = self._catalog.get_app(app).id
        with self._db.writing() as conn:
            deleted = delete(conn, app_id, name)
        if not deleted:
            raise NotFound(f"app {app!r} has no secret {name}")

    def list_secrets(self, app: str) -> list[AppSecret]:
        """An app's secrets: names and times, never values."""
        self._catalog.get_app(app)
        with self._db.reading() as conn:
            return names(conn, app)

    def sealed_secrets(self) -> list[SealedSecret]:
        """Every stored secret, sealed (for rotating the key)."""
        with self._db.reading() as conn:
            return all_sealed(conn)

    def reseal_secret(self, secret: SealedSecret, ciphertext: str) -> bool:
        """Store ``secret`` sealed anew; False if it was changed or deleted meanwhile."""
        with self._db.writing() as conn:
            return reseal(conn, secret, ciphertext)
