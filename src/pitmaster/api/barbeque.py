"""barbeque's routes, and its error answers on them.

barbeque answers ``{"status_code", "error_code", "message"}``: 400 ``invalid_parameter``
for a missing or ill-typed parameter, 404 ``record_not_found`` for a missing record. On
its routes pitmaster answers the same statuses and keys, and keeps its own ``error``.
"""

from __future__ import annotations

import re
from typing import Any

# (method, path) of each route barbeque has, as pitmaster serves it.
_ROUTES = (
    ("POST", re.compile(r"/v2/job_executions")),
    ("GET", re.compile(r"/v1/job_executions/[^/]+")),
    ("POST", re.compile(r"/v1/job_executions/[^/]+/retries")),
    ("POST", re.compile(r"/v1/apps/[^/]+/revision_lock")),
    ("DELETE", re.compile(r"/v1/apps/[^/]+/revision_lock")),
)
# pitmaster's 422 (a field with a bad value) is barbeque's 400 (an invalid parameter).
_STATUS = {422: 400}
_ERROR_CODES = {
    400: "invalid_parameter",
    401: "unauthorized",
    403: "forbidden",
    404: "record_not_found",
    409: "conflict",
    413: "payload_too_large",
    429: "too_many_requests",
    503: "service_unavailable",
}


def is_barbeque_route(method: str, path: str) -> bool:
    return any(method == m and pattern.fullmatch(path) for m, pattern in _ROUTES)


def error_body(status_code: int, message: str) -> tuple[int, dict[str, Any]]:
    """barbeque's status and body for an error pitmaster answers ``status_code`` to."""
    status = _STATUS.get(status_code, status_code)
    code = _ERROR_CODES.get(status, "error")
    return status, {"status_code": status, "error_code": code, "message": message, "error": message}
