"""The security headers of every response, and the API documentation page they allow.

The console gets a strict Content-Security-Policy: its own scripts, styles and
images only, nothing inline. ``/docs`` (Swagger UI) is the one page that needs
more: Swagger UI's script and stylesheet come from a CDN and it starts from one
inline script, allowed by its hash, not by 'unsafe-inline'.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable

from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

DOCS_PATH = "/docs"
# Where FastAPI's Swagger UI page loads its script, stylesheet and icon from.
_DOCS_CDN = "https://cdn.jsdelivr.net"
_DOCS_ICON_HOST = "https://fastapi.tiangolo.com"

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


def docs_page(openapi_url: str, title: str) -> tuple[HTMLResponse, str]:
    """Swagger UI's page, and the policy that lets it run (and nothing else)."""
    page = get_swagger_ui_html(openapi_url=openapi_url, title=f"{title} - Swagger UI")
    inline = _INLINE_SCRIPT.findall(bytes(page.body).decode())
    policy = "; ".join(
        [
            "default-src 'none'",
            " ".join(["script-src", _DOCS_CDN, *(script_hash(s) for s in inline)]),
            # Swagger UI sets style attributes as it renders.
            f"style-src {_DOCS_CDN} 'unsafe-inline'",
            f"img-src 'self' data: {_DOCS_ICON_HOST}",
            "connect-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )
    return page, policy


def headers_for(docs_policy: str) -> Callable[[str], Iterable[tuple[str, str]]]:
    """The headers a response to ``path`` carries."""

    def for_path(path: str) -> Iterable[tuple[str, str]]:
        policy = docs_policy if path == DOCS_PATH else CONSOLE_POLICY
        return (("Content-Security-Policy", policy), *COMMON_HEADERS)

    return for_path
