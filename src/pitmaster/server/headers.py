"""The security headers of every response, and the API documentation pages they allow.

The console gets a strict Content-Security-Policy: its own scripts, styles and
images only, nothing inline. ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) are
the pages that need more: each starts from one inline script, allowed by its
hash, not by 'unsafe-inline', and both draw styles as they render. Their
scripts and stylesheets are served from the installed ``fastapi-offline``
package under ``/static/api-docs``: nothing is fetched from a CDN, so the
pages work offline and under a policy that names no other host.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable
from importlib import resources

from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
DOCS_ASSETS_PATH = "/static/api-docs"


def docs_assets_directory() -> str:
    """Where the installed fastapi-offline package keeps Swagger UI's and ReDoc's files."""
    return str(resources.files("fastapi_offline") / "static")


CONSOLE_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        # console.js refreshes a running execution from its live.json
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def script_hash(source: str) -> str:
    """A CSP source allowing exactly this inline script."""
    digest = hashlib.sha256(source.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def _docs_policy(page: HTMLResponse, *extra: str) -> str:
    inline = _INLINE_SCRIPT.findall(bytes(page.body).decode())
    return "; ".join(
        [
            "default-src 'none'",
            " ".join(["script-src 'self'", *(script_hash(s) for s in inline)]),
            # Swagger UI and ReDoc set style attributes as they render.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            *extra,
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


def docs_page(openapi_url: str, title: str) -> tuple[HTMLResponse, str]:
    """Swagger UI's page, and the policy that lets it run (and nothing else)."""
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title} - Swagger UI",
        swagger_js_url=f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS_PATH}/favicon.png",
    )
    return page, _docs_policy(page)


def redoc_page(openapi_url: str, title: str) -> tuple[HTMLResponse, str]:
    """ReDoc's page, and its policy: ReDoc also runs a web worker it makes from a blob."""
    page = get_redoc_html(
        openapi_url=openapi_url,
        title=f"{title} - ReDoc",
        redoc_js_url=f"{DOCS_ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{DOCS_ASSETS_PATH}/favicon.png",
        with_google_fonts=False,
    )
    return page, _docs_policy(page, "worker-src 'self' blob:")


def headers_for(
    docs_policy: str, redoc_policy: str = CONSOLE_POLICY
) -> Callable[[str], Iterable[tuple[str, str]]]:
    """The headers a response to ``path`` carries."""
    policies = {DOCS_PATH: docs_policy, REDOC_PATH: redoc_policy}

    def for_path(path: str) -> Iterable[tuple[str, str]]:
        policy = policies.get(path, CONSOLE_POLICY)
        return (("Content-Security-Policy", policy), *COMMON_HEADERS)

    return for_path
