"""Input a tenant or a stranger crafts to make the server fail: a 4xx, never a 5xx, on both databases.

Every client here comes from ``serving``, which fails the test on any 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pitmaster import auth
from pitmaster.models import MAX_MESSAGE_DEPTH
from pitmaster.settings import Settings
from pitmaster.store.store import ExecutionFilter, Store

from .conftest import log_in, serving


def _nested(depth: int) -> Any:
    message: Any = "bottom"
    for _ in range(depth):
        message = [message]
    return message


@pytest.fixture
def shop_client(settings: Settings, store: Store) -> Iterator[TestClient]:
    """The API as an app token of ``shop`` (which has a job ``mail``)."""
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    with serving(settings, store, token=auth.issue(store, "shop", "")[1]) as client:
        yield client


# -- 6: deeply nested messages --------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_MESSAGE_DEPTH + 1, 256, 900])
def test_given_a_message_nested_too_deep_when_enqueued_then_422_and_nothing_stored(
    shop_client: TestClient, store: Store, depth: int
) -> None:
    body = {"application": "shop", "job": "mail", "message": _nested(depth)}

    response = shop_client.post("/v2/job_executions", json=body)

    assert response.status_code == 422, response.text
    assert f"at most {MAX_MESSAGE_DEPTH}" in response.json()["error"]
    assert store.list_executions(ExecutionFilter(), limit=10).items == []


def test_given_a_message_at_the_depth_limit_then_it_is_stored_and_read_back(
    shop_client: TestClient,
) -> None:
    body = {"application": "shop", "job": "mail", "message": _nested(MAX_MESSAGE_DEPTH - 1)}

    made = shop_client.post("/v2/job_executions", json=body)

    assert made.status_code == 201
    read = shop_client.get(f"/v1/job_executions/{made.json()['message_id']}?fields=message")
    assert read.json()["message"] == body["message"]


def test_given_a_deep_message_stored_before_the_limit_then_every_read_of_it_answers(
    settings: Settings, store: Store, shop_client: TestClient
) -> None:
    # Given a 600-deep message in the database (enqueue took those once).
    stored = store.enqueue("shop", "mail", "default", _nested(600)).message_id

    # When it is read through the API and the console, then it comes back as JSON text.
    read = shop_client.get(f"/v1/job_executions/{stored}?fields=message")
    assert read.status_code == 200
    assert isinstance(read.json()["message"], str) and read.json()["message"].startswith("[[[")
    with serving(settings, store) as console:
        log_in(console)
        assert console.get(f"/job_executions/{stored}").status_code == 200
