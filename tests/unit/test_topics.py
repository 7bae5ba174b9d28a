"""Topics: one publish enqueues one execution per matching subscription, all or nothing.

Through the real HTTP API, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pitmaster.models import MAX_MESSAGE_BYTES
from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.schema import topic_messages
from pitmaster.store.store import Store
from pitmaster.topics import matches

from ..credentials import ADMIN, bearer
from .test_api_unavailable import database_fails_on

ORDER = {"kind": "paid", "total": 42, "vip": True}


@pytest.fixture
def shop(store: Store) -> Store:
    """Apps shop (jobs mail, bill) and blog (job index), and a topic ``orders`` nobody is on."""
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["mail"])
    store.create_job_definition("shop", "bill", ["bill"])
    store.create_app("blog", "blog:1")
    store.create_job_definition("blog", "index", ["index"])
    store.create_queue("slow")
    store.create_topic("orders", "", ["shop"])
    return store


def _subscribe(client: TestClient, job: str, app: str = "shop", **extra: Any) -> int:
    response = client.post(
        "/v1/topics/orders/subscriptions", json={"application": app, "job": job, **extra}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _subscribe_three(client: TestClient) -> None:
    _subscribe(client, "mail")
    _subscribe(client, "bill", queue="slow")
    _subscribe(client, "index", app="blog")


def _executions(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/v1/job_executions")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _publish(client: TestClient, message: Any = ORDER, **extra: Any) -> Any:
    return client.post("/v1/topics/orders/messages", json={"message": message, **extra})


# -- fan-out --------------------------------------------------------------------------


def test_given_three_subscriptions_when_publishing_then_one_execution_each(
    shop: Store, client: TestClient
) -> None:
    _subscribe_three(client)

    response = _publish(client)

    assert response.status_code == 201, response.text
    body = response.json()
    assert len(body["message_ids"]) == 3 and body["subscriptions"] == 3
    assert body["replayed"] is False
    enqueued = {(e["application"], e["job"], e["queue"]) for e in body["executions"]}
    assert enqueued == {
        ("shop", "mail", "default"),
        ("shop", "bill", "slow"),
        ("blog", "index", "default"),
    }
    for message_id in body["message_ids"]:
        execution = shop.get_execution(message_id)
        assert execution.message == ORDER and execution.status.value == "pending"
    # The executions belong to their own apps, by id.
    assert shop.get_execution(body["message_ids"][2]).app_id == shop.get_app("blog").id


def test_given_a_topic_without_subscriptions_when_publishing_then_201_saying_nothing_was_enqueued(
    shop: Store, client: TestClient
) -> None:
    response = _publish(client)

    assert response.status_code == 201, response.text
    assert response.json()["message_ids"] == []
    assert "no subscriptions" in response.json()["detail"]
    assert _executions(client) == []


# -- all or nothing -------------------------------------------------------------------


def test_given_a_subscribed_job_deleted_then_its_subscriptions_go_with_it(
    shop: Store, client: TestClient
) -> None:
    _subscribe_three(client)
    shop.delete_job_definition("shop", "bill")  # the second of three

    response = _publish(client)

    assert response.status_code == 201, response.text
    enqueued = {(e["application"], e["job"]) for e in response.json()["executions"]}
    assert enqueued == {("shop", "mail"), ("blog", "index")}
    listed = client.get("/v1/topics/orders/subscriptions").json()
    assert {(s["application"], s["job"]) for s in listed} == {("shop", "mail"), ("blog", "index")}


def test_given_a_queue_that_subscriptions_feed_when_deleting_it_then_409_and_it_stays(
    shop: Store, client: TestClient
) -> None:
    _subscribe_three(client)

    response = client.delete("/v1/job_queues/slow")

    assert response.status_code == 409, response.text
    assert "topic subscriptions" in response.json()["error"]
    assert shop.get_queue("slow").name == "slow"
    assert len(_publish(client).json()["message_ids"]) == 3


def test_given_the_database_fails_after_the_fan_out_then_503_and_nothing_is_kept(
    shop: Store, settings: Settings
) -> None:
    # A client of its own: the ``client`` fixture fails any test that sees a 5xx.
    tokens.ensure_admin_tokens(settings, shop)
    client = TestClient(create_app(settings, shop), headers=ADMIN, raise_server_exceptions=False)
    _subscribe_three(client)

    # The idempotency record is the publish's last write: three executions are in
    # the transaction by then.
    with database_fails_on(f"INSERT INTO {topic_messages.name}") as failed:
        response = _publish(client, idempotency_key="order-1")

    assert failed, "the publish never reached its idempotency record"
    assert response.status_code == 503, response.text
    assert _executions(client) == []

    again = _publish(client, idempotency_key="order-1")
    assert again.status_code == 201, again.text
    assert len(again.json()["message_ids"]) == 3
    assert len(_executions(client)) == 3
    client.close()


def test_given_a_message_too_big_for_one_jobs_environment_then_413_and_nothing_enqueued(
    shop: Store, client: TestClient
) -> None:
    _subscribe_three(client)
    shop.update_job_definition("blog", "index", {"message_delivery": "env"})

    response = _publish(client, message={"blob": "x" * (200 * 1024)})

    assert response.status_code == 413, response.text
    assert "blog/index" in response.json()["error"]
    assert _executions(client) == []


# -- filters --------------------------------------------------------------------------


def test_given_filters_when_publishing_then_only_matching_subscriptions_get_the_message(
    shop: Store, client: TestClient
) -> None:
    _subscribe(client, "mail", filter={"kind": "paid"})
    _subscribe(client, "bill", filter={"kind": ["refunded", "paid"], "total": 42})
    _subscribe(client, "index", app="blog", filter={"kind": "refunded"})

    paid = _publish(client)
    refunded = _publish(client, message={"kind": "refunded", "total": 42})
    neither = _publish(client, message=["kind", "paid"])  # not an object: no key matches

    assert [e["job"] for e in paid.json()["executions"]] == ["mail", "bill"]
    assert [e["job"] for e in refunded.json()["executions"]] == ["bill", "index"]
    assert neither.status_code == 201 and neither.json()["message_ids"] == []
    assert "matched none" in neither.json()["detail"]


def test_the_filter_rule() -> None:
    assert matches(None, "anything") and matches({}, [1])
    assert matches({"kind": "paid"}, {"kind": "paid", "more": 1})
    assert not matches({"kind": "paid"}, {"other": "paid"})
    assert matches({"n": [1, 2]}, {"n": 2.0}) and not matches({"n": [1, 2]}, {"n": 3})
    # JSON's true is not 1, and a nested value never equals a scalar.
    assert not matches({"vip": True}, {"vip": 1}) and not matches({"n": 1}, {"n": True})
    assert matches({"vip": True}, {"vip": True}) and not matches({"a": "x"}, {"a": ["x"]})
    assert matches({"gone": None}, {"gone": None}) and not matches({"gone": None}, {})


# -- idempotency ----------------------------------------------------------------------


def test_given_the_same_idempotency_key_when_publishing_twice_then_it_publishes_once(
    shop: Store, client: TestClient
) -> None:
    _subscribe_three(client)

    first = _publish(client, idempotency_key="order-7")
    second = client.post(
        "/v1/topics/orders/messages",
        json={"message": ORDER},
        headers={"Idempotency-Key": "order-7"},
    )
    other = _publish(client, message={"kind": "other"}, idempotency_key="order-7")

    assert first.status_code == second.status_code == 201
    assert second.json()["message_ids"] == first.json()["message_ids"]
    assert second.json()["replayed"] is True and "already published" in second.json()["detail"]
    assert other.status_code == 409, other.text
    assert len(_executions(client)) == 3


# -- permissions ----------------------------------------------------------------------


def test_given_app_tokens_then_only_a_listed_publisher_may_publish_and_none_may_manage(
    shop: Store, settings: Settings, client: TestClient
) -> None:
    _subscribe_three(client)
    shop_token = tokens.create_token(shop, "shop", "")[1]
    blog_token = tokens.create_token(shop, "blog", "")[1]
    as_shop, as_blog = bearer(shop_token), bearer(blog_token)
    url = "/v1/topics/orders/messages"

    allowed = client.post(url, json={"message": ORDER}, headers=as_shop)
    refused = client.post(url, json={"message": ORDER}, headers=as_blog)
    unknown = client.post("/v1/topics/nope/messages", json={"message": 1}, headers=as_blog)

    assert allowed.status_code == 201, allowed.text
    # A publisher's token fans out into other apps' jobs (the admin subscribed them),
    # and is shown only its own app's executions; the others are counted.
    answer = allowed.json()
    assert len(answer["message_ids"]) == 2
    assert {execution["application"] for execution in answer["executions"]} == {"shop"}
    assert "enqueued 3 executions" in answer["detail"]
    assert "1 of them in other apps" in answer["detail"]
    assert refused.status_code == 403, refused.text
    # An app cannot tell a topic it may not use from one that does not exist.
    assert unknown.status_code == 403 and "nope" in unknown.json()["error"]
    assert len(_executions(client)) == 3
    # No app token may subscribe (into its own app or another), or manage topics.
    for headers in (as_shop, as_blog):
        for app in ("shop", "blog"):
            made = client.post(
                "/v1/topics/orders/subscriptions",
                json={"application": app, "job": "mail"},
                headers=headers,
            )
            assert made.status_code == 403, made.text
        assert client.get("/v1/topics", headers=headers).status_code == 403
        assert client.post("/v1/topics", json={"name": "x"}, headers=headers).status_code == 403
    assert len(client.get("/v1/topics/orders/subscriptions").json()) == 3


def test_given_a_publisher_app_deleted_and_made_again_then_the_new_one_may_not_publish(
    shop: Store, client: TestClient
) -> None:
    _subscribe(client, "index", app="blog")
    shop.delete_app("shop")
    shop.create_app("shop", "shop:2")
    token = tokens.create_token(shop, "shop", "")[1]

    response = client.post("/v1/topics/orders/messages", json={"message": 1}, headers=bearer(token))

    assert response.status_code == 403, response.text
    assert client.get("/v1/topics/orders").json()["publishers"] == []


# -- management and bad input ---------------------------------------------------------


def test_topics_and_subscriptions_are_made_listed_changed_and_deleted(
    shop: Store, client: TestClient
) -> None:
    made = client.post("/v1/topics", json={"name": "signups", "publishers": ["blog", "shop"]})
    assert made.status_code == 201, made.text
    assert made.json()["publishers"] == ["blog", "shop"]
    assert [t["name"] for t in client.get("/v1/topics").json()] == ["orders", "signups"]
    changed = client.patch("/v1/topics/signups", json={"publishers": ["blog"]})
    assert changed.json()["publishers"] == ["blog"]
    sub = client.post(
        "/v1/topics/signups/subscriptions",
        json={"application": "shop", "job": "mail", "filter": {"plan": ["pro", "team"]}},
    )
    assert sub.status_code == 201, sub.text
    assert sub.json()["filter"] == {"plan": ["pro", "team"]}
    gone = client.delete(f"/v1/topics/signups/subscriptions/{sub.json()['id']}")
    assert gone.status_code == 204
    assert client.get("/v1/topics/signups/subscriptions").json() == []
    assert client.delete("/v1/topics/signups").status_code == 204
    assert client.get("/v1/topics/signups").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/topics/nope/messages", {"message": 1}, 404),
        ("POST", "/v1/topics/orders/messages", {"message": None}, 422),
        ("POST", "/v1/topics/orders/messages", {"message": 1, "delay_seconds": -1}, 422),
        ("POST", "/v1/topics/orders/messages", {"message": 1, "extra": 1}, 400),
        ("POST", "/v1/topics/orders/messages", {"message": "x" * MAX_MESSAGE_BYTES}, 413),
        ("POST", "/v1/topics", {"name": "orders"}, 409),
        ("POST", "/v1/topics", {"name": "new", "publishers": ["nope"]}, 404),
        ("POST", "/v1/topics", {"name": "bad name"}, 422),
        ("PATCH", "/v1/topics/orders", {"publishers": ["nope"]}, 404),
        ("POST", "/v1/topics/nope/subscriptions", {"application": "shop", "job": "mail"}, 404),
        ("POST", "/v1/topics/orders/subscriptions", {"application": "nope", "job": "mail"}, 404),
        ("POST", "/v1/topics/orders/subscriptions", {"application": "shop", "job": "nope"}, 404),
        (
            "POST",
            "/v1/topics/orders/subscriptions",
            {"application": "shop", "job": "mail", "queue": "nope"},
            404,
        ),
        (
            "POST",
            "/v1/topics/orders/subscriptions",
            {"application": "shop", "job": "mail", "filter": {"a": {"nested": 1}}},
            422,
        ),
        (
            "POST",
            "/v1/topics/orders/subscriptions",
            {"application": "shop", "job": "mail", "filter": {"a": []}},
            422,
        ),
        ("DELETE", "/v1/topics/orders/subscriptions/99", None, 404),
        ("DELETE", "/v1/topics/nope", None, 404),
    ],
)
def test_given_bad_input_then_a_clear_4xx_and_nothing_changes(
    shop: Store, client: TestClient, method: str, path: str, body: Any, status: int
) -> None:
    before = (client.get("/v1/topics").json(), client.get("/v1/topics/orders/subscriptions").json())

    response = client.request(method, path, json=body)

    assert response.status_code == status, response.text
    assert response.json()["error"]
    after = (client.get("/v1/topics").json(), client.get("/v1/topics/orders/subscriptions").json())
    assert after == before
    assert _executions(client) == []


def test_given_a_duplicate_subscription_then_409(shop: Store, client: TestClient) -> None:
    _subscribe(client, "mail")

    again = client.post(
        "/v1/topics/orders/subscriptions", json={"application": "shop", "job": "mail"}
    )

    assert again.status_code == 409, again.text
    assert len(client.get("/v1/topics/orders/subscriptions").json()) == 1
