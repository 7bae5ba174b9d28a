"""Who is using the console: a session cookie made at ``/login`` from an API token.

The cookie holds a random secret; the database keeps only its SHA-256, with
the token it was opened with and when it expires. So a session ends at
logout, when it expires, or as soon as its token is revoked, and any number of
server processes agree on it. The cookie is ``HttpOnly`` (no script reads it),
``SameSite=Lax`` (other sites' forms do not carry it; links from elsewhere
still open the page logged in), and ``Secure`` with the ``__Host-`` prefix over
HTTPS (``cookies.py``).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request, Response

from pitmaster import auth
from pitmaster.auth import Caller
from pitmaster.errors import Forbidden, Unauthenticated
from pitmaster.http_common.deps import Services, ServicesDep
from pitmaster.web import cookies

COOKIE = "pitmaster_session"
LIFETIME = timedelta(hours=12)
# Longer than any secret pitmaster hands out: not worth hashing and looking up.
_SECRET_MAX_LENGTH = 128


class LoginRequired(Unauthenticated):
    """No live console session: the page sends the browser to ``/login``."""


def current_caller(request: Request, services: Services) -> Caller | None:
    """Whom this browser's session speaks for; None without a live one."""
    if services.settings.auth == "none":
        return auth.TRUSTED
    secret = cookies.read(request, COOKIE)
    if not secret or len(secret) > _SECRET_MAX_LENGTH:
        return None
    token = services.store.tokens.session_token(auth.hash_token(secret))
    return Caller.of(token) if token is not None else None


def _console_caller(request: Request, services: ServicesDep) -> Caller:
    caller = current_caller(request, services)
    if caller is None:
        raise LoginRequired("log in to use the console")
    request.state.caller = caller
    return caller


def _console_admin(caller: Annotated[Caller, Depends(_console_caller)]) -> Caller:
    if not caller.is_admin:
        raise Forbidden(
            f"This page is for admins; you are logged in with app {caller.app}'s token."
        )
    return caller


ConsoleCallerDep = Annotated[Caller, Depends(_console_caller)]
require_login = Depends(_console_caller)
require_admin = Depends(_console_admin)


def start(request: Request, response: Response, services: Services, caller: Caller) -> None:
    """Open a session for ``caller`` and set its cookie on ``response``."""
    assert caller.token_id is not None
    secret = secrets.token_urlsafe(32)
    services.store.tokens.start_session(auth.hash_token(secret), caller.token_id, LIFETIME)
    cookies.put(
        request, response, COOKIE, secret, samesite="lax", max_age=int(LIFETIME.total_seconds())
    )


def end(request: Request, response: Response, services: Services) -> None:
    secret = cookies.read(request, COOKIE)
    if secret and len(secret) <= _SECRET_MAX_LENGTH:
        services.store.tokens.end_session(auth.hash_token(secret))
    cookies.drop(request, response, COOKIE, samesite="lax")


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``/``: never a redirect elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or not target.isprintable() or any(c.isspace() for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def login_url(request: Request) -> str:
    """``/login``, with the page asked for as ``next`` when it is one to come back to."""
    if request.method != "GET":
        return "/login"
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?" + urlencode({"next": target}) if target != "/" else "/login"
