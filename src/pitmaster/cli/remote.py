"""Talking to a running pitmaster server."""

from __future__ import annotations

import os
from typing import Any

from pitmaster.cli.output import print_json
from pitmaster.client import Client


def connect(url: str) -> Client:
    return Client(url, token=os.environ.get("PITMASTER_TOKEN") or None)


def call(url: str, method: str, path: str, body: Any = None, *, quiet: bool = False) -> None:
    """Make one request; print the server's answer, if it has one, as JSON (unless ``quiet``)."""
    with connect(url) as client:
        result = client.request(method, path, json=body)
    if result is not None and not quiet:
        print_json(result)


def present(**fields: Any) -> dict[str, Any]:
    """The fields that were given: a request leaves the others as they are."""
    return {key: value for key, value in fields.items() if value is not None}
