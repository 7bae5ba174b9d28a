"""Batch enqueue through the API, on both databases: all the items are stored, or none."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pitmaster.client import Client, ClientError
from pitmaster.models import ExecutionFilter, Status
from pitmaster.services import tokens
from pitmaster.store.store import Store

from ..credentials import ADMIN_TOKEN, bearer

BATCH = "/v2/job_executions/batch"


@pytest.fixture
def shop(store: Store) -> None:
    for app in ("shop", "blog"):
        store.create_app(app, f"{app}:1")
        store.create_job_definition(app, "mail", ["send-mail"])


def _item(n: int, **extra: Any) -> dict[str, Any]:
    return {"application": "shop", "job": "mail", "message": {"n": n}, **extra}


def _stored(store: Store) -> int:
    return len(store.list_executions(ExecutionFilter(), limit=500).items)


def test_given_a_batch_then_201_with_every_execution_pending_in_order(
    client: TestClient, store: Store, shop: None
) -> None:
    answer = client.post(BATCH, json={"items": [_item(n) for n in range(3)]})

    assert answer.status_code == 201, answer.text
    made = answer.json()["items"]
    assert [item["status"] for item in made] == ["pending"] * 3
    for n, item in enumerate(made):
        execution = store.get_execution(item["message_id"])
        assert (execution.id, execution.message, execution.status) == (
            item["id"],
            {"n": n},
            Status.PENDING,
        )
        [attempt] = store.attempts_of(execution.id)
        assert attempt.number == 0
    claimed = [store.claim("w", 60) for _ in range(3)]
    assert sorted(c.execution.id for c in claimed if c is not None) == [i["id"] for i in made]


def test_given_an_item_whose_job_does_not_exist_then_404_naming_it_and_nothing_is_stored(
    client: TestClient, store: Store, shop: None
) -> None:
    items = [_item(0), _item(1), {**_item(2), "job": "nope"}]

    answer = client.post(BATCH, json={"items": items})

    assert answer.status_code == 404
    assert answer.json()["error"] == "items[2]: job 'nope' is not defined for application 'shop'"
    assert _stored(store) == 0


def test_given_a_malformed_item_then_4xx_naming_it_and_nothing_is_stored(
    client: TestClient, store: Store, shop: None
) -> None:
    items = [_item(0), {"application": "shop", "job": "mail"}]

    answer = client.post(BATCH, json={"items": items})

    assert answer.status_code == 422
    assert "items" in answer.json()["error"] and "1" in answer.json()["error"]
    assert _stored(store) == 0


def test_given_more_than_a_thousand_items_or_none_then_422(
    client: TestClient, store: Store, shop: None
) -> None:
    too_many = client.post(BATCH, json={"items": [_item(n) for n in range(1001)]})
    empty = client.post(BATCH, json={"items": []})

    assert (too_many.status_code, empty.status_code) == (422, 422)
    assert _stored(store) == 0


def test_given_idempotency_keys_then_a_repeated_item_gets_its_first_execution(
    client: TestClient, store: Store, shop: None
) -> None:
    first = client.post(BATCH, json={"items": [_item(0, idempotency_key="a"), _item(1)]})
    assert first.status_code == 201, first.text

    again = client.post(
        BATCH,
        json={"items": [_item(2), _item(0, idempotency_key="a"), _item(0, idempotency_key="a")]},
    )

    assert again.status_code == 201, again.text
    ids = [item["id"] for item in again.json()["items"]]
    assert ids[1] == ids[2] == first.json()["items"][0]["id"]
    assert _stored(store) == 3


def test_given_a_key_used_for_another_request_then_409_naming_the_item_and_nothing_is_stored(
    client: TestClient, store: Store, shop: None
) -> None:
    client.post(BATCH, json={"items": [_item(0, idempotency_key="a")]})

    reused = client.post(BATCH, json={"items": [_item(5), _item(9, idempotency_key="a")]})
    twice = client.post(
        BATCH, json={"items": [_item(1, idempotency_key="b"), _item(2, idempotency_key="b")]}
    )

    assert reused.status_code == 409 and reused.json()["error"].startswith("items[1]: ")
    assert twice.status_code == 409 and twice.json()["error"].startswith("items[1]: ")
    assert _stored(store) == 1


def test_given_an_app_token_then_an_item_for_another_app_is_not_found_and_nothing_is_stored(
    client: TestClient, store: Store, shop: None
) -> None:
    token = tokens.create_token(store, "shop", "")[1]
    items = [_item(0), {**_item(1), "application": "blog"}]

    answer = client.post(BATCH, json={"items": items}, headers=bearer(token))

    assert answer.status_code == 404
    assert answer.json()["error"] == "items[1]: application 'blog' does not exist"
    assert _stored(store) == 0


def test_given_the_client_then_it_enqueues_a_batch_and_says_which_item_was_bad(
    client: TestClient, store: Store, shop: None
) -> None:
    api = Client("http://testserver", token=ADMIN_TOKEN)
    api._http = client  # the client's requests go to the app under test

    made = api.enqueue_batch([_item(0), _item(1)])
    with pytest.raises(ClientError, match=r"^404: items\[1\]: job 'nope'"):
        api.enqueue_batch([_item(2), {**_item(3), "job": "nope"}])

    assert [store.get_execution(m["message_id"]).message for m in made] == [{"n": 0}, {"n": 1}]
    assert _stored(store) == 2
