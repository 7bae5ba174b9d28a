"""CSRF protection by double submit: a random token in a cookie and in every form.

Another site can make a browser send the cookie, but cannot read it, so it
cannot put the same token in the form. Nothing is kept on the server, so any
number of server processes check tokens alike.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response

from pitmaster.errors import PitmasterError

COOKIE = "pitmaster_csrf"
FIELD = "csrf_token"


class CsrfRejected(PitmasterError):
    http_status = 403


def token_for(request: Request) -> str:
    """The token this browser holds, or a new one (``remember`` sets it on the response)."""
    existing = request.cookies.get(COOKIE)
    if existing and len(existing) >= 32 and existing.isalnum():
        return existing
    token: str | None = getattr(request.state, "csrf_token", None)
    if token is None:
        token = secrets.token_hex(32)
        request.state.csrf_token = token
    return token


def remember(request: Request, response: Response) -> None:
    token: str | None = getattr(request.state, "csrf_token", None)
    if token is not None:
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            path="/",
            secure=over_https(request),  # as the session cookie is
        )


def over_https(request: Request) -> bool:
    """Whether cookies go out ``Secure``: over HTTPS, or behind a proxy that ends it."""
    public = request.app.state.services.settings.public_url or ""
    return request.url.scheme == "https" or str(public).startswith("https://")


def check(request: Request, submitted: str | None) -> None:
    cookie = request.cookies.get(COOKIE)
    # Compared as bytes: compare_digest refuses str with characters beyond ASCII.
    if not cookie or not submitted or not hmac.compare_digest(cookie.encode(), submitted.encode()):
        raise CsrfRejected(
            "this form has expired or did not come from this console; reload the page and retry"
        )
