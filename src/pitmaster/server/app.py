"""Building the FastAPI application, and turning every error into ``{"error": "..."}``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from pitmaster import __version__
from pitmaster.api import barbeque, notifications, pausing, schedules, tokens, topics, v1, v2
from pitmaster.api.schemas import ErrorOut, json_error_responses
from pitmaster.errors import ExecutorError, PitmasterError, StoreError, Unauthenticated
from pitmaster.executors.base import LogReader
from pitmaster.http_common.deps import Services, require_admin
from pitmaster.http_common.ratelimit import RateLimiter
from pitmaster.http_common.validation import describe_validation_error
from pitmaster.metrics import Metrics
from pitmaster.server.headers import (
    DOCS_ASSETS_PATH,
    DOCS_PATH,
    REDOC_PATH,
    docs_assets_directory,
    docs_page,
    headers_for,
    redoc_page,
)
from pitmaster.server.middleware import BodyLimit, RateLimit, SecurityHeaders, ServerErrors
from pitmaster.services.live_output import LiveOutput
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.token_cache import TokenCache
from pitmaster.web import login, pages, sessions

logger = logging.getLogger(__name__)

# Problems with the body as a whole, rather than with one of its fields (400). A field
# the request does not take is a 400 too: the sender meant something this API does not do.
_MALFORMED_BODY_TYPES = {"json_invalid", "model_attributes_type", "dict_type"}


def create_app(
    settings: Settings,
    store: Store,
    on_enqueue: Callable[[], None] | None = None,
    metrics: Metrics | None = None,
    log_reader: LogReader | None = None,
) -> FastAPI:
    """The API and the console over ``store``.

    ``on_enqueue`` wakes a worker of this process when there is new work;
    ``log_reader`` reads running jobs' output from its engine, for the console.
    """
    app = FastAPI(
        title="pitmaster",
        version=__version__,
        description="A job queue that runs every job in its own Docker container.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = Services(
        settings=settings,
        store=store,
        wakeup=on_enqueue,
        live_output=LiveOutput(
            reader=log_reader,
            readers=threading.BoundedSemaphore(settings.live_output_readers),
            limit_bytes=settings.live_output_bytes,
        ),
        # The store's clock: a token's trust runs out on the same time as its last_used.
        token_cache=TokenCache(settings.token_cache_seconds, clock=lambda: store.now().timestamp()),
    )
    if settings.auth == "none":
        logger.warning(
            "AUTHENTICATION IS OFF (PITMASTER_AUTH=none): anyone who can reach this server "
            "can run any job and read every execution. Use this only on a trusted network."
        )
    app.include_router(v1.admin_router)
    app.include_router(v1.router)
    app.include_router(v2.router)
    app.include_router(tokens.router)
    app.include_router(topics.admin_router)
    app.include_router(topics.router)
    app.include_router(notifications.admin_router)
    app.include_router(notifications.router)
    app.include_router(schedules.router)
    app.include_router(pausing.admin_router)
    app.include_router(login.router)
    # Before the console's /static: Swagger UI's and ReDoc's files, from fastapi-offline.
    app.mount(DOCS_ASSETS_PATH, StaticFiles(directory=docs_assets_directory()), name="api-docs")
    pages.mount(app)

    if metrics is None:
        metrics = Metrics()
    metrics.watch_store(store)

    @app.get(
        "/metrics",
        tags=["meta"],
        response_class=PlainTextResponse,
        dependencies=[require_admin],
        responses=json_error_responses(401, 403),
    )
    def prometheus_metrics() -> PlainTextResponse:
        """Prometheus text format: the backlog from the database, and this process's counts.

        Needs an admin token (it names every app and queue).
        """
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["meta"], responses={503: {"model": ErrorOut}})
    def healthz() -> dict[str, str]:
        store.list_queues()
        return {"status": "ok"}

    docs, docs_policy = docs_page(app.openapi_url or "/openapi.json", app.title)
    redoc, redoc_policy = redoc_page(app.openapi_url or "/openapi.json", app.title)

    @app.get(DOCS_PATH, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return docs

    @app.get(REDOC_PATH, include_in_schema=False)
    def redoc_ui() -> HTMLResponse:
        return redoc

    app.add_exception_handler(PitmasterError, _pitmaster_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    _guard(app, settings, docs_policy, redoc_policy)
    return app


def _guard(app: FastAPI, settings: Settings, docs_policy: str, redoc_policy: str) -> None:
    """Wrap the app, outermost first: security headers, rate limit, body cap, server errors.

    The headers go on every answer, the middleware's own 429 and 413 included;
    a caller over its rate is turned away before its body is read.
    """
    app.add_middleware(ServerErrors, answer=_server_error)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.rate_limit > 0:
        limiter = RateLimiter(settings.rate_limit, settings.rate_limit_burst)
        app.state.rate_limiter = limiter  # authentication tells it which tokens are real
        app.add_middleware(RateLimit, limiter=limiter, exempt=frozenset({"/healthz"}))
    app.add_middleware(SecurityHeaders, headers_for=headers_for(docs_policy, redoc_policy))


def _error(
    request: Request,
    status_code: int,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """``{"error": "..."}``; on barbeque's routes, barbeque's status and keys as well."""
    if barbeque.is_barbeque_route(request.method, request.url.path):
        status, content = barbeque.error_body(status_code, message)
        return JSONResponse(status_code=status, content=content, headers=headers)
    return JSONResponse(status_code=status_code, content={"error": message}, headers=headers)


# What a caller is told when a backend fails: the detail (hosts, ports, the
# driver's words) goes to the server's log only.
_UNAVAILABLE = {StoreError: "database unavailable", ExecutorError: "container engine unavailable"}
RETRY_AFTER_SECONDS = 5


async def _pitmaster_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PitmasterError)
    message, headers = str(exc), dict[str, str]()
    if exc.http_status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.error("request failed: %s", exc)
        kind = next((k for k in _UNAVAILABLE if isinstance(exc, k)), None)
        if kind is not None:
            message = _UNAVAILABLE[kind]
            headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if isinstance(exc, sessions.LoginRequired) and pages.is_console_page(request):
        return RedirectResponse(sessions.login_url(request), status_code=303)
    if pages.is_console_page(request):
        response = pages.error_page(request, exc.http_status, message)
        response.headers.update(headers)
        return response
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    return _error(request, exc.http_status, message, headers=headers)


def _server_error(scope: Scope) -> Response:
    """What a request that failed unexpectedly is answered: JSON, or the console's page."""
    request = Request(scope)
    if pages.is_console_page(request):
        try:
            return pages.error_page(request, 500, "internal error")
        except Exception:  # the page itself failed: the plain answer below
            logger.exception("the error page could not be rendered")
    return _error(request, 500, "internal error")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if pages.is_console_page(request):
        response = pages.error_page(request, exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response
    return _error(request, exc.status_code, str(exc.detail), headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors: Sequence[Any] = exc.errors()
    if pages.is_console_page(request):
        message = "; ".join(describe_validation_error(error) for error in errors)
        return pages.error_page(request, 400, message)
    unknown = [error for error in errors if error.get("type") == "extra_forbidden"]
    if unknown:
        message = "; ".join(describe_validation_error(error) for error in unknown)
        if request.method == "POST" and request.url.path == v2.ENQUEUE_PATH:
            message += f" ({v2.MESSAGE_IS_DATA})"
        return _error(request, 400, message)
    if any(error.get("type") in _MALFORMED_BODY_TYPES for error in errors):
        first = next(e for e in errors if e.get("type") in _MALFORMED_BODY_TYPES)
        if first["type"] == "json_invalid":
            return _error(
                request,
                400,
                f"request body is not valid JSON: {first.get('ctx', {}).get('error', '')}",
            )
        return _error(
            request, 400, "request body must be a JSON object (Content-Type: application/json)"
        )
    return _error(request, 422, "; ".join(describe_validation_error(error) for error in errors))
