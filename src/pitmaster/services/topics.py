"""Topics: managing them and their subscriptions (admins), and publishing to them.

Who may do what: an admin token manages topics and subscriptions and may
publish to any topic; an app token may only publish, and only to a topic that
lists its app as a publisher. Subscriptions are made by admins alone, so no app
can make another app's jobs run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pitmaster.auth import Caller
from pitmaster.errors import InvalidInput, TooLarge
from pitmaster.models import MAX_MESSAGE_BYTES, MAX_MESSAGE_DEPTH, json_depth
from pitmaster.services.executions import Wakeup, message_size
from pitmaster.services.inputs import SubscriptionCreate, TopicCreate, TopicUpdate
from pitmaster.store.store import Store
from pitmaster.topics import Publication, Subscription, Topic

logger = logging.getLogger(__name__)


# -- topics ----------------------------------------------------------------------------


def create_topic(store: Store, body: TopicCreate) -> Topic:
    """A new topic; its publishers must be existing apps."""
    topic = store.create_topic(body.name, body.description, body.publishers)
    logger.info("topic %s created (publishers: %s)", topic.name, ", ".join(topic.publishers))
    return topic


def update_topic(store: Store, name: str, body: TopicUpdate) -> Topic:
    """Change a topic's description or replace its publishers."""
    topic = store.update_topic(name, body.description, body.publishers)
    logger.info("topic %s updated (publishers: %s)", topic.name, ", ".join(topic.publishers))
    return topic


def delete_topic(store: Store, name: str) -> None:
    """Delete a topic and its subscriptions; what it enqueued stays."""
    store.delete_topic(name)
    logger.info("topic %s deleted", name)


# -- subscriptions ---------------------------------------------------------------------


def subscribe(store: Store, topic: str, body: SubscriptionCreate) -> Subscription:
    """Subscribe an app's job, on a queue, to a topic (admins only: see the module)."""
    subscription = store.subscribe(topic, body.application, body.job, body.queue, body.filter)
    logger.info(
        "topic %s: subscription %d for %s/%s on %s",
        topic,
        subscription.id,
        subscription.application,
        subscription.job,
        subscription.queue,
    )
    return subscription


def unsubscribe(store: Store, topic: str, subscription_id: int) -> None:
    store.unsubscribe(topic, subscription_id)
    logger.info("topic %s: subscription %d deleted", topic, subscription_id)


# -- publishing ------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishOrder:
    topic: str
    message: Any
    delay_seconds: float | None = None
    idempotency_key: str | None = None


def publish(store: Store, wakeup: Wakeup, caller: Caller, order: PublishOrder) -> Publication:
    """Enqueue the message for every matching subscription of the topic, in one transaction.

    The message passes the checks of an enqueue (depth, size, and for each job that
    takes its message in the environment only, that it fits there); an app token
    publishes only to a topic that lists its app.
    """
    depth = json_depth(order.message)
    if depth > MAX_MESSAGE_DEPTH:
        raise InvalidInput(f"message is nested {depth} levels deep; at most {MAX_MESSAGE_DEPTH}")
    size = message_size(order.message)
    if size > MAX_MESSAGE_BYTES:
        raise TooLarge(f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}")
    publication = store.publish(
        order.topic,
        order.message,
        message_size=size,
        delay_seconds=order.delay_seconds or 0,
        idempotency_key=order.idempotency_key,
        publisher_app_id=None if caller.is_admin else _publisher_id(caller),
    )
    if publication.replayed:
        logger.info("topic %s: publish replayed for its idempotency key", order.topic)
        return _as_seen_by(caller, publication)
    logger.info(
        "topic %s: published to %d of %d subscriptions: %s",
        order.topic,
        len(publication.deliveries),
        publication.subscriptions,
        ", ".join(publication.message_ids) or "nothing enqueued",
    )
    if publication.deliveries and wakeup is not None:
        wakeup()
    return _as_seen_by(caller, publication)


def _as_seen_by(caller: Caller, publication: Publication) -> Publication:
    # An app's token sees its own app's world only: other apps' executions are counted.
    if caller.is_admin or caller.app is None:
        return publication
    return publication.seen_by_app(caller.app)


def _publisher_id(caller: Caller) -> int:
    # An app token always carries its app's id; -1 matches no app, should one not.
    return caller.app_id if caller.app_id is not None else -1
