"""The console's cookies: their names and flags, alike for the session and the CSRF cookie.

Over HTTPS (the request's scheme, which uvicorn takes from ``X-Forwarded-Proto``
only when the proxy is trusted, or a ``PITMASTER_PUBLIC_URL`` of ``https://``)
every cookie is ``Secure`` and named with the ``__Host-`` prefix: the browser
then keeps it only if it was set over HTTPS, for ``Path=/`` and without a
``Domain``, so a sibling subdomain cannot plant or overwrite it. Over plain
HTTP, where no prefix is honoured, the bare name is used. Only the name that
fits the request is ever read: over HTTPS a bare-named cookie, which anyone on
a sibling subdomain may have set, is ignored.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Request, Response

HOST_PREFIX = "__Host-"


def over_https(request: Request) -> bool:
    """Whether cookies go out ``Secure``: over HTTPS, or behind a proxy that ends it."""
    public = request.app.state.services.settings.public_url or ""
    return request.url.scheme == "https" or str(public).startswith("https://")


def name(request: Request, base: str) -> str:
    return HOST_PREFIX + base if over_https(request) else base


def read(request: Request, base: str) -> str | None:
    return request.cookies.get(name(request, base))


def put(
    request: Request,
    response: Response,
    base: str,
    value: str,
    *,
    samesite: Literal["lax", "strict"],
    max_age: int | None = None,
) -> None:
    response.set_cookie(
        name(request, base),
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite=samesite,
        secure=over_https(request),
    )


def drop(
    request: Request, response: Response, base: str, *, samesite: Literal["lax", "strict"]
) -> None:
    # A __Host- cookie is only replaced by one with the same flags, Secure included.
    response.delete_cookie(
        name(request, base), path="/", httponly=True, samesite=samesite, secure=over_https(request)
    )
