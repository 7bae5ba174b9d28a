"""``/login`` and ``/logout``: open and close a console session with an API token.

Both are forms, so both carry the CSRF token (``csrf.py``): another site
cannot log a browser in to an account of its choosing, or out.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pitmaster import auth
from pitmaster.errors import Unauthenticated
from pitmaster.http_common.deps import ServicesDep
from pitmaster.http_common.ratelimit import RateLimiter, client_address
from pitmaster.web import csrf, sessions
from pitmaster.web.pages.common import PostedForm, render

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, services: ServicesDep, next: str = "/") -> Response:
    if services.settings.auth == "none":
        return RedirectResponse(sessions.safe_next(next), status_code=303)
    request.state.caller = sessions.current_caller(request, services)
    return render(request, "login.html", next=sessions.safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: PostedForm, services: ServicesDep) -> Response:
    target = sessions.safe_next(form.get("next"))
    if services.settings.auth == "none":
        return RedirectResponse(target, status_code=303)
    presented = form.get("token").strip()
    try:
        caller = auth.authenticate(services.store, presented)
    except Unauthenticated as exc:
        limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
        if limiter is not None:  # a failed guess costs its address one more request
            limiter.refused(auth.hash_token(presented), client_address(request.scope))
        return render(request, "login.html", 401, next=target, error=str(exc))
    response = RedirectResponse(target, status_code=303)
    sessions.start(request, response, services, caller)
    # A fresh CSRF nonce for the new session: one planted before login is of no use.
    csrf.forget(request, response)
    logger.info("console login with token %s", caller.token_id)
    return response


@router.post("/logout")
def logout(request: Request, _form: PostedForm, services: ServicesDep) -> Response:
    response = RedirectResponse("/login", status_code=303)
    sessions.end(request, response, services)
    return response
