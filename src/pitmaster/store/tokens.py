"""API tokens and console sessions: every query about who may call pitmaster.

The store keeps only hashes: of each token, and of each session's cookie.
Making tokens, hashing and comparing them is ``pitmaster.auth``'s job.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from pitmaster.errors import Conflict, InvalidInput, NotFound
from pitmaster.models import ApiToken, TokenKind
from pitmaster.store.database import Database
from pitmaster.store.schema import api_tokens, apps, console_sessions, installation


def _token_query() -> sa.Select[Any]:
    return sa.select(api_tokens, apps.c.name.label("app")).outerjoin(
        apps, apps.c.id == api_tokens.c.app_id
    )


def _serialize_admin_changes(conn: sa.Connection) -> None:
    """Take the installation row's lock, so two processes changing admin tokens take turns.

    (SQLite's write transactions are serial already; on PostgreSQL this makes
    "is there an admin token yet?" and "is this the last one?" safe to act on.)
    """
    conn.execute(sa.select(installation.c.id).with_for_update()).all()


class TokenStore:
    """The queries about API tokens and console sessions (``Store.tokens``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- tokens ------------------------------------------------------------------

    def create(
        self,
        token_id: str,
        token_hash: str,
        kind: TokenKind,
        app: str | None = None,
        description: str = "",
    ) -> ApiToken:
        """Store a new token; an app token needs its app, an admin token has none."""
        if (kind is TokenKind.APP) != (app is not None):
            raise InvalidInput("an app token names its app; an admin token names none")
        with self._db.writing() as conn:
            app_id = None
            if app is not None:
                app_id = conn.execute(sa.select(apps.c.id).where(apps.c.name == app)).scalar()
                if app_id is None:
                    raise NotFound(f"app {app!r} does not exist")
            self._insert(conn, token_id, token_hash, kind, app_id, description)
        return self.get(token_id)

    def _insert(
        self,
        conn: sa.Connection,
        token_id: str,
        token_hash: str,
        kind: TokenKind,
        app_id: int | None,
        description: str,
    ) -> None:
        taken = conn.execute(sa.select(api_tokens.c.id).where(api_tokens.c.id == token_id)).first()
        if taken is not None:
            raise Conflict(f"token id {token_id} is taken")
        conn.execute(
            api_tokens.insert().values(
                id=token_id,
                token_hash=token_hash,
                kind=kind.value,
                app_id=app_id,
                description=description,
                created_at=self._db.now(),
            )
        )

    def find(self, token_id: str) -> ApiToken | None:
        with self._db.reading() as conn:
            row = conn.execute(_token_query().where(api_tokens.c.id == token_id)).mappings().first()
        return ApiToken.from_row(dict(row)) if row is not None else None

    def get(self, token_id: str) -> ApiToken:
        token = self.find(token_id)
        if token is None:
            raise NotFound(f"token {token_id!r} does not exist")
        return token

    def all(self) -> list[ApiToken]:
        """Every token, revoked ones too, oldest first."""
        query = _token_query().order_by(api_tokens.c.created_at, api_tokens.c.id)
        with self._db.reading() as conn:
            rows = conn.execute(query).mappings().all()
        return [ApiToken.from_row(dict(row)) for row in rows]

    def revoke(self, token_id: str) -> ApiToken:
        """Revoke a token and end its console sessions; revoking twice is fine.

        The last active admin token cannot be revoked: make another first.
        """
        now = self._db.now()
        with self._db.writing() as conn:
            _serialize_admin_changes(conn)
            row = conn.execute(_token_query().where(api_tokens.c.id == token_id)).mappings().first()
            if row is None:
                raise NotFound(f"token {token_id!r} does not exist")
            token = ApiToken.from_row(dict(row))
            if token.active and token.kind is TokenKind.ADMIN and self._active_admins(conn) <= 1:
                raise Conflict(
                    f"token {token_id} is the last admin token; create another before revoking it"
                )
            conn.execute(
                api_tokens.update()
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            conn.execute(console_sessions.delete().where(console_sessions.c.token_id == token_id))
        return self.get(token_id)

    @staticmethod
    def _active_admins(conn: sa.Connection) -> int:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(api_tokens)
                .where(
                    api_tokens.c.kind == TokenKind.ADMIN.value, api_tokens.c.revoked_at.is_(None)
                )
            ).scalar_one()
        )

    def touch(self, token_id: str, every: timedelta) -> None:
        """Record a use of the token, at most once per ``every`` (a compare-and-set)."""
        now = self._db.now()
        t = api_tokens.c
        with self._db.writing() as conn:
            conn.execute(
                api_tokens.update()
                .where(
                    t.id == token_id,
                    sa.or_(t.last_used_at.is_(None), t.last_used_at <= now - every),
                )
                .values(last_used_at=now)
            )

    def ensure_admin(self, token_id: str, token_hash: str, description: str) -> ApiToken:
        """The admin token with this id and hash, stored if it is not yet (idempotent).

        A revoked one stays revoked. An id taken by another token is a Conflict.
        """
        with self._db.writing() as conn:
            _serialize_admin_changes(conn)
            row = conn.execute(_token_query().where(api_tokens.c.id == token_id)).mappings().first()
            if row is None:
                self._insert(conn, token_id, token_hash, TokenKind.ADMIN, None, description)
            elif row["token_hash"] != token_hash or row["kind"] != TokenKind.ADMIN.value:
                raise Conflict(f"token id {token_id} belongs to another token")
        return self.get(token_id)

    def create_first_admin(self, token_id: str, token_hash: str, description: str) -> bool:
        """Store this admin token if the database has never had one; whether it did.

        Revoked admin tokens count: only the very first start makes one.
        """
        with self._db.writing() as conn:
            _serialize_admin_changes(conn)
            any_admin = conn.execute(
                sa.select(api_tokens.c.id)
                .where(api_tokens.c.kind == TokenKind.ADMIN.value)
                .limit(1)
            ).first()
            if any_admin is not None:
                return False
            self._insert(conn, token_id, token_hash, TokenKind.ADMIN, None, description)
        return True

    # -- console sessions ------------------------------------------------------------

    def start_session(self, session_hash: str, token_id: str, lifetime: timedelta) -> None:
        """Store a new console session (and forget expired ones)."""
        now = self._db.now()
        with self._db.writing() as conn:
            conn.execute(console_sessions.delete().where(console_sessions.c.expires_at <= now))
            conn.execute(
                console_sessions.insert().values(
                    id=session_hash, token_id=token_id, created_at=now, expires_at=now + lifetime
                )
            )

    def session_token(self, session_hash: str) -> ApiToken | None:
        """The active token a live session was opened with, or None."""
        query = (
            _token_query()
            .join(console_sessions, console_sessions.c.token_id == api_tokens.c.id)
            .where(
                console_sessions.c.id == session_hash,
                console_sessions.c.expires_at > self._db.now(),
                api_tokens.c.revoked_at.is_(None),
            )
        )
        with self._db.reading() as conn:
            row = conn.execute(query).mappings().first()
        return ApiToken.from_row(dict(row)) if row is not None else None

    def end_session(self, session_hash: str) -> None:
        with self._db.writing() as conn:
            conn.execute(console_sessions.delete().where(console_sessions.c.id == session_hash))
