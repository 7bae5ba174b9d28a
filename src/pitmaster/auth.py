"""API tokens: their form, checking them, and who a checked token speaks for.

Making, listing and revoking them are operations in ``pitmaster.services.tokens``.

A token pitmaster makes looks like ``pm_<id>_<secret>``: the 12 hex digits of
``id`` are public (they name the token in lists and logs), the secret is 256
random bits. Only the SHA-256 of the whole token is stored; a fast hash is
enough for secrets this long. A token given from outside (``PITMASTER_ADMIN_TOKEN``)
may have any form of at least 32 characters; its id is then ``ext-`` and the
start of its hash.

An **admin** token may do everything. An **app** token may enqueue into its
app, and read, retry and cancel that app's executions; other apps' executions
do not exist for it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta

from pitmaster.errors import Forbidden, NotFound, Unauthenticated
from pitmaster.models import ApiToken, Execution, ExecutionFilter, TokenKind
from pitmaster.store.store import Store

logger = logging.getLogger(__name__)

PREFIX = "pm_"
_MADE_HERE = re.compile(r"^pm_([0-9a-f]{12})_[A-Za-z0-9_-]{32,}$")
MAX_TOKEN_LENGTH = 512
# last_used_at is written at most this often per token, not on every request.
TOUCH_EVERY = timedelta(minutes=1)


def new_token() -> str:
    """A fresh random token, ``pm_<id>_<secret>``."""
    return f"{PREFIX}{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def token_id(token: str) -> str:
    """The public id of a token: the one it carries, or ``ext-`` and the start of its hash."""
    made_here = _MADE_HERE.match(token)
    if made_here:
        return made_here.group(1)
    return f"ext-{hash_token(token)[:8]}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, as authentication reads it.

    The scheme is matched in any case and the token stripped, so ``bearer T``
    and ``BEARER  T`` give the same token: whatever keys on the token (the rate
    limit) must read it this way too. None if the header is not of that form.
    """
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    return presented.strip()


@dataclass(frozen=True)
class Caller:
    """Who a request speaks for: an admin, or one app."""

    kind: TokenKind
    app: str | None = None
    # None when authentication is off (``PITMASTER_AUTH=none``).
    token_id: str | None = None
    description: str = ""
    # The app's identity: what it made is its own, whatever app later takes its name.
    app_id: int | None = None

    @classmethod
    def of(cls, token: ApiToken) -> Caller:
        return cls(
            kind=token.kind,
            app=token.app,
            token_id=token.id,
            description=token.description,
            app_id=token.app_id,
        )

    @property
    def is_admin(self) -> bool:
        return self.kind is TokenKind.ADMIN

    def may_see(self, application: str) -> bool:
        return self.app is None or self.app == application

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden(
                f"an app token (app {self.app!r}) may not do this; it needs an admin token"
            )

    def require_app(self, application: str) -> None:
        """Refuse an app token acting on another app, as if that app did not exist."""
        if not self.may_see(application):
            raise NotFound(f"application {application!r} does not exist")

    def visible(self, execution: Execution, reference: str) -> Execution:
        """The execution, if this caller may see it; another app's is not found.

        An app sees what its app (by id) made: not what a deleted app of the
        same name made before it.
        """
        if self.app is not None and execution.app_id != self.app_id:
            raise NotFound(f"job execution {reference!r} does not exist")
        return execution

    def scoped(self, where: ExecutionFilter) -> ExecutionFilter | None:
        """The filter narrowed to this caller's app (by id); None when it can match nothing."""
        if self.app is None:
            return where
        if where.application is not None and where.application != self.app:
            return None
        return replace(where, application=None, app_id=self.app_id)


TRUSTED = Caller(kind=TokenKind.ADMIN, description="authentication is off")


def authenticate(store: Store, presented: str) -> Caller:
    """The caller a presented token speaks for; Unauthenticated unless it is known and active.

    Logs name the token's id, never the token.
    """
    if not presented or len(presented) > MAX_TOKEN_LENGTH or not presented.isprintable():
        raise Unauthenticated("the token is malformed")
    presented_id = token_id(presented)
    token = store.tokens.find(presented_id)
    if token is None or not hmac.compare_digest(token.token_hash, hash_token(presented)):
        logger.info("refused an unknown or wrong token (id %s)", presented_id)
        raise Unauthenticated("the token is not valid")
    if not token.active:
        logger.info("refused revoked token %s", token.id)
        raise Unauthenticated(f"token {token.id} has been revoked")
    now = store.now()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        store.tokens.touch(token.id, TOUCH_EVERY)
    return Caller.of(token)
