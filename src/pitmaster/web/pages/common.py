"""What every console page shares: the routers, rendering, forms, errors and paging."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment

from pitmaster.auth import Caller
from pitmaster.errors import NotFound, PitmasterError
from pitmaster.models import MAX_PAGE_SIZE
from pitmaster.web import csrf, forms, sessions
from pitmaster.web.forms import Form, FormInvalid

logger = logging.getLogger(__name__)


router = APIRouter(include_in_schema=False, dependencies=[sessions.require_login])
# Pages that change what can run, or show every app at once: admins only.
admin_router = APIRouter(
    include_in_schema=False, dependencies=[sessions.require_login, sessions.require_admin]
)
PAGE_SIZE = 50
# Lists of named things (apps, job definitions, queues, workers) show this many a page.
NAMES_PAGE_SIZE = MAX_PAGE_SIZE
_API_PREFIXES = ("/v1/", "/v2/", "/healthz", "/docs", "/openapi.json", "/metrics")


def is_console_page(request: Request) -> bool:
    """Whether an error here should be an HTML page (the API's stay JSON)."""
    path = request.url.path
    return not path.startswith(_API_PREFIXES) and not path.endswith(".json")


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    environment: Environment = request.app.state.templates
    html = environment.get_template(template).render(
        request=request,
        csrf_token=csrf.token_for(request),
        path=request.url.path,
        caller=getattr(request.state, "caller", None),
        **context,
    )
    # Every page shows one caller's view (messages, output, the CSRF token in its
    # forms): no browser or proxy cache keeps it.
    response = HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
    csrf.remember(request, response)
    return response


_HEADINGS: dict[int, str] = {
    HTTPStatus.BAD_REQUEST: "Bad request",
    HTTPStatus.FORBIDDEN: "Not allowed",
    HTTPStatus.NOT_FOUND: "Not found",
    HTTPStatus.METHOD_NOT_ALLOWED: "Not allowed here",
    HTTPStatus.INTERNAL_SERVER_ERROR: "Something went wrong",
    HTTPStatus.SERVICE_UNAVAILABLE: "Unavailable",
}
# Said instead of the bare reason phrase (Starlette's detail for a route it has not got).
_PLAIN_MESSAGES: dict[int, str] = {
    HTTPStatus.NOT_FOUND: "There is no page at this address.",
    HTTPStatus.METHOD_NOT_ALLOWED: "This page cannot be used that way.",
}


def _session_caller(request: Request) -> Caller | None:
    """Whom the browser's session speaks for, on a page no route (or dependency) reached:
    the error still shows inside that caller's layout."""
    services = getattr(request.app.state, "services", None)
    if services is None:
        return None
    try:
        return sessions.current_caller(request, services)
    except PitmasterError:  # the database is what failed: the page shows logged out
        return None


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    if getattr(request.state, "caller", None) is None:
        request.state.caller = _session_caller(request)
    heading = _HEADINGS.get(status_code, f"Error {status_code}")
    if status_code in _PLAIN_MESSAGES and message == HTTPStatus(status_code).phrase:
        message = _PLAIN_MESSAGES[status_code]
    return render(
        request, "error.html", status_code, code=status_code, heading=heading, message=message
    )


async def _checked_form(request: Request) -> Form:
    form = await forms.read_form(request)
    csrf.check(request, form.get(csrf.FIELD))
    return form


PostedForm = Annotated[Form, Depends(_checked_form)]


def next_page(path: str, items: Sequence[Any], after: str) -> str | None:
    """The URL of the page after a full one; None after the last."""
    if len(items) < NAMES_PAGE_SIZE:
        return None
    return f"{path}?{urlencode({'after': after})}"


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def status_of(error: PitmasterError | FormInvalid) -> int:
    return error.http_status if isinstance(error, PitmasterError) else 422


def errors_of(error: PitmasterError | FormInvalid) -> list[str]:
    return error.errors if isinstance(error, FormInvalid) else [str(error)]


def check_app(caller: Caller, name: str) -> None:
    """Another app's pages do not exist for an app token's session."""
    if not caller.may_see(name):
        raise NotFound(f"app {name!r} does not exist")
