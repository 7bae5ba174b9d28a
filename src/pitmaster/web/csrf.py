"""CSRF protection: every form carries a token bound to this browser's cookies.

The browser holds a random nonce in the CSRF cookie (``SameSite=Strict``). The
token a form carries is not the nonce itself but an HMAC keyed by it over the
console session's cookie secret, when there is a session:

- another site can make a browser send the cookies, but cannot read them or
  the pages, so it cannot put the right token in its form;
- a token taken from another session, or a nonce planted by a sibling
  subdomain (possible over plain HTTP, where no ``__Host-`` prefix protects
  the cookie) with the token that goes with it, is refused: without this
  browser's session secret, which never leaves its ``HttpOnly`` cookie, no
  one can compute the token for its session;
- before login (the login form) there is no session: the token is bound to
  the nonce alone, a pre-session token. A login replaces the nonce.

The session secret is the key material, so there is no server key to make,
keep or share: any number of server processes check tokens alike.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

from pitmaster.errors import PitmasterError
from pitmaster.web import cookies, sessions

COOKIE = "pitmaster_csrf"
FIELD = "csrf_token"
_PURPOSE = b"pitmaster console form\x00"
# A cookie's nonce is used only within these lengths (pitmaster's own are 64 hex digits).
_NONCE_MIN_LENGTH = 32
_NONCE_MAX_LENGTH = 128


class CsrfRejected(PitmasterError):
    http_status = 403


def _usable(nonce: str) -> bool:
    return (
        _NONCE_MIN_LENGTH <= len(nonce) <= _NONCE_MAX_LENGTH and nonce.isascii() and nonce.isalnum()
    )


def _nonce(request: Request) -> str:
    """The nonce this browser holds, or a new one (``remember`` sets it on the response)."""
    existing = cookies.read(request, COOKIE)
    if existing is not None and _usable(existing):
        return existing
    nonce: str | None = getattr(request.state, "csrf_nonce", None)
    if nonce is None:
        nonce = secrets.token_hex(32)
        request.state.csrf_nonce = nonce
    return nonce


def _bound_token(nonce: str, session_secret: str | None) -> str:
    mac = hmac.new(nonce.encode(), _PURPOSE, hashlib.sha256)
    mac.update((session_secret or "").encode("utf-8", "surrogateescape"))
    return mac.hexdigest()


def token_for(request: Request) -> str:
    """The token this browser's forms carry, for its nonce and its session (if any)."""
    return _bound_token(_nonce(request), cookies.read(request, sessions.COOKIE))


def remember(request: Request, response: Response) -> None:
    nonce: str | None = getattr(request.state, "csrf_nonce", None)
    if nonce is not None:
        cookies.put(request, response, COOKIE, nonce, samesite="strict")


def forget(request: Request, response: Response) -> None:
    cookies.drop(request, response, COOKIE, samesite="strict")


def check(request: Request, submitted: str | None) -> None:
    nonce = cookies.read(request, COOKIE)
    if nonce is None or not _usable(nonce) or not submitted:
        raise _rejected()
    expected = _bound_token(nonce, cookies.read(request, sessions.COOKIE))
    # Compared as bytes: compare_digest refuses str with characters beyond ASCII.
    if not hmac.compare_digest(expected.encode(), submitted.encode("utf-8", "surrogateescape")):
        raise _rejected()


def _rejected() -> CsrfRejected:
    return CsrfRejected(
        "this form has expired or did not come from this console; reload the page and retry"
    )
