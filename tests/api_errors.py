"""How the API answers an error: ``{"error"}``, and barbeque's keys on barbeque's routes."""

from __future__ import annotations

import httpx

from pitmaster.api.barbeque import is_barbeque_route

BARBEQUE_KEYS = {"error", "status_code", "error_code", "message"}
# The body cap and the rate limit answer before any route: {"error"} alone, on every path.
MIDDLEWARE_STATUSES = {413, 429}


def error_text(response: httpx.Response, status: int | None, *words: str) -> str:
    """The error's text; the status (any 4xx for None) and the shape checked, ``words`` named.

    On barbeque's routes a bad field is 400 as in barbeque (pitmaster's 422 elsewhere)
    and the body also carries barbeque's ``status_code``, ``error_code`` and ``message``.
    """
    barbeque = is_barbeque_route(response.request.method, response.request.url.path)
    if barbeque and status == 422:
        status = 400
    if status is None:
        assert 400 <= response.status_code < 500, response.text
    else:
        assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    if barbeque and not (response.status_code in MIDDLEWARE_STATUSES and set(body) == {"error"}):
        assert set(body) == BARBEQUE_KEYS, body
        assert body["status_code"] == response.status_code and body["message"] == body["error"]
    else:
        assert set(body) == {"error"}, body
    text = body["error"]
    assert isinstance(text, str)
    for word in words:
        assert word.lower() in text.lower(), f"{word!r} not in {text!r}"
    return text
