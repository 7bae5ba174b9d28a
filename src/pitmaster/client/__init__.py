"""The Python client of the pitmaster API: ``Client`` (sync) and ``AsyncClient``.

    from pitmaster.client import Client

    with Client("https://pitmaster.example.com", token=os.environ["PITMASTER_TOKEN"]) as client:
        sent = client.enqueue("mailer", "send-mail", {"to": "a@example.com"})
        done = client.wait(sent["message_id"], timeout=60)

Errors are exceptions carrying the server's message (``ClientError`` and its
kinds in ``pitmaster.client.errors``); ``pitmaster.client.testing`` has a fake
server for tests. See docs/client.md.
"""

from pitmaster.client._async import AsyncClient
from pitmaster.client._core import DEFAULT_TIMEOUT, DEFAULT_URL, Enqueued, JSONObject
from pitmaster.client._sync import Client
from pitmaster.client.errors import (
    ApiError,
    ClientError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    WaitTimedOut,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "ApiError",
    "AsyncClient",
    "Client",
    "ClientError",
    "Conflict",
    "ConnectionFailed",
    "Enqueued",
    "Forbidden",
    "InvalidRequest",
    "JSONObject",
    "NotFound",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthorized",
    "WaitTimedOut",
]
