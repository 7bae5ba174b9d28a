"""The web console: server-rendered pages over the same store methods as the API.

Every page works without JavaScript; ``static/console.js`` only refreshes a
running execution. State changes are POSTs carrying the CSRF token
(``csrf.py``); bad input re-renders its form with the reasons and a 4xx.
Every page needs a console session (``sessions.py``). A session opened with an
app token sees only that app: its page, job definitions and executions; the
rest is 403, and other apps' pages and executions are 404.
"""

from __future__ import annotations

from importlib import resources
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, StrictUndefined

from pitmaster.web import times, views

# Each module adds its pages to the routers, in this order (it is the order they match in).
from pitmaster.web.pages import (  # noqa: F401
    apps,
    executions,
    job_definitions,
    monitor,
    notifications,
    pausing,
    queues,
    schedules,
    topics,
)
from pitmaster.web.pages.common import admin_router, error_page, is_console_page, router

__all__ = ["admin_router", "error_page", "is_console_page", "mount", "router"]


def mount(app: FastAPI) -> None:
    """Serve the console from ``app``: pages, and the CSS and JS under ``/static``."""
    environment = Environment(
        loader=PackageLoader("pitmaster.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = times.time_tag
    environment.filters["seconds"] = times.seconds_text
    environment.filters["shell"] = views.shell_command
    environment.globals["quote"] = lambda text: quote(str(text), safe="")
    app.state.templates = environment
    static = resources.files("pitmaster.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.include_router(admin_router)  # first: /apps/new before /apps/{name}
    app.include_router(router)
