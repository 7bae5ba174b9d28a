"""API tokens as admins manage them: made (the token shown only then), listed, revoked.

What a token looks like, and checking one, is ``pitmaster.auth``'s; this module
holds what the API, the ``pitmaster token`` commands and a starting server do
with tokens in the database.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pydantic import Field

from pitmaster.auth import hash_token, new_token, token_id
from pitmaster.models import ApiToken, TokenKind
from pitmaster.settings import Settings
from pitmaster.shown import Shown
from pitmaster.store.store import Store

logger = logging.getLogger(__name__)

ENV_DESCRIPTION = "PITMASTER_ADMIN_TOKEN"
FIRST_DESCRIPTION = "made at first start"


# A token as the API and ``token list --json`` show it, never its secret. (No docstring:
# it would become the schema's description in the API's OpenAPI document.)
class TokenOut(Shown):
    id: str = Field(description="the token's public id (its secret is never shown again)")
    kind: TokenKind
    app: str | None
    description: str
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute")
    revoked_at: datetime | None


def ensure_admin_tokens(settings: Settings, store: Store) -> str | None:
    """At a server's start: store ``PITMASTER_ADMIN_TOKEN`` if it is set (idempotent).

    Without it, the very first start of a database makes an admin token and
    returns it, to be shown once; every later start returns None. A revoked
    ``PITMASTER_ADMIN_TOKEN`` stays revoked.
    """
    if settings.auth == "none":
        return None
    if settings.admin_token is not None:
        given = settings.admin_token.get_secret_value()
        token = store.tokens.ensure_admin(token_id(given), hash_token(given), ENV_DESCRIPTION)
        if token.active:
            logger.info("PITMASTER_ADMIN_TOKEN is admin token %s", token.id)
        else:
            logger.warning(
                "PITMASTER_ADMIN_TOKEN (token %s) has been revoked; it is refused", token.id
            )
        return None
    fresh = new_token()
    if store.tokens.create_first_admin(token_id(fresh), hash_token(fresh), FIRST_DESCRIPTION):
        logger.warning("first start: made admin token %s", token_id(fresh))
        return fresh
    return None


def create_token(store: Store, app: str | None, description: str) -> tuple[ApiToken, str]:
    """Make and store a new token (for ``app``, else admin); the token is returned only here."""
    fresh = new_token()
    kind = TokenKind.APP if app is not None else TokenKind.ADMIN
    stored = store.tokens.create(token_id(fresh), hash_token(fresh), kind, app, description)
    logger.info("made %s token %s%s", kind.value, stored.id, f" for app {app}" if app else "")
    return stored, fresh


def list_tokens(store: Store) -> list[ApiToken]:
    """Every token, revoked ones too."""
    return store.tokens.all()


def revoke_token(store: Store, public_id: str) -> None:
    """Revoke a token at once and end its console sessions; the last admin token stays."""
    store.tokens.revoke(public_id)
    logger.info("revoked token %s", public_id)
