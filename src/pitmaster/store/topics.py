"""Topics, their publishers and subscriptions, and publishing: one transaction per publish."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from pitmaster.errors import Conflict, Forbidden, InvalidInput, NotFound, StoreError, TooLarge
from pitmaster.models import DEFAULT_PRIORITY, MAX_DELAY_SECONDS, MESSAGE_ENV_LIMIT, MessageDelivery
from pitmaster.store import targets, wakeups
from pitmaster.store.database import Database
from pitmaster.store.executions import PendingRow, insert_pending
from pitmaster.store.schema import (
    apps,
    job_definitions,
    job_queues,
    topic_messages,
    topic_publishers,
    topic_subscriptions,
    topics,
)
from pitmaster.topics import Delivery, Filter, Publication, Subscription, Topic, matches

logger = logging.getLogger(__name__)

_SUBSCRIPTION_COLUMNS = (
    topic_subscriptions.c.id,
    topics.c.name.label("topic"),
    apps.c.name.label("application"),
    topic_subscriptions.c.app_id,
    topic_subscriptions.c.job,
    topic_subscriptions.c.queue,
    topic_subscriptions.c.filter,
    topic_subscriptions.c.created_at,
)


class Topics:
    """The queries about topics: managing them and their subscriptions, and publishing."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- topics --------------------------------------------------------------------

    def create_topic(self, name: str, description: str, publishers: Iterable[str]) -> Topic:
        now = self._db.now()
        try:
            with self._db.writing() as conn:
                topic_id = conn.execute(
                    topics.insert()
                    .values(name=name, description=description, created_at=now, updated_at=now)
                    .returning(topics.c.id)
                ).scalar_one()
                _set_publishers(conn, topic_id, publishers)
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"topic {name!r} already exists") from exc
        return self.get_topic(name)

    def update_topic(
        self, name: str, description: str | None, publishers: Iterable[str] | None
    ) -> Topic:
        """Change what is given; publishers, when given, replace the topic's list."""
        with self._db.writing() as conn:
            topic_id = _topic_id(conn, name)
            values: dict[str, Any] = {"updated_at": self._db.now()}
            if description is not None:
                values["description"] = description
            conn.execute(topics.update().where(topics.c.id == topic_id).values(**values))
            if publishers is not None:
                conn.execute(
                    topic_publishers.delete().where(topic_publishers.c.topic_id == topic_id)
                )
                _set_publishers(conn, topic_id, publishers)
        return self.get_topic(name)

    def get_topic(self, name: str) -> Topic:
        with self._db.reading() as conn:
            row = conn.execute(sa.select(topics).where(topics.c.name == name)).mappings().first()
            if row is None:
                raise NotFound(f"topic {name!r} does not exist")
            return _topic(row, _publishers(conn, [row["id"]]).get(row["id"], ()))

    def list_topics(self, limit: int, after: str | None = None) -> list[Topic]:
        query = sa.select(topics).order_by(topics.c.name).limit(limit)
        if after is not None:
            query = query.where(topics.c.name > after)
        with self._db.reading() as conn:
            rows = conn.execute(query).mappings().all()
            publishers = _publishers(conn, [row["id"] for row in rows])
        return [_topic(row, publishers.get(row["id"], ())) for row in rows]

    def delete_topic(self, name: str) -> None:
        """Delete a topic with its subscriptions; executions it enqueued stay."""
        with self._db.writing() as conn:
            deleted = conn.execute(topics.delete().where(topics.c.name == name)).rowcount
        if not deleted:
            raise NotFound(f"topic {name!r} does not exist")

    # -- subscriptions -------------------------------------------------------------

    def subscribe(
        self, topic: str, application: str, job: str, queue: str, message_filter: Filter | None
    ) -> Subscription:
        """Subscribe an app's job (on a queue) to a topic; all three must exist."""
        now = self._db.now()
        try:
            with self._db.writing() as conn:
                topic_id = _topic_id(conn, topic)
                app_id = targets.app_id(conn, application)
                targets.require_job_and_queue(conn, app_id, application, job, queue)
                subscription_id = conn.execute(
                    topic_subscriptions.insert()
                    .values(
                        topic_id=topic_id,
                        app_id=app_id,
                        job=job,
                        queue=queue,
                        filter=dict(message_filter) if message_filter else None,
                        created_at=now,
                    )
                    .returning(topic_subscriptions.c.id)
                ).scalar_one()
        except sa.exc.IntegrityError as exc:
            raise Conflict(
                f"topic {topic!r} already has a subscription for {application}/{job} on "
                f"queue {queue!r}"
            ) from exc
        return self.get_subscription(topic, subscription_id)

    def get_subscription(self, topic: str, subscription_id: int) -> Subscription:
        with self._db.reading() as conn:
            row = (
                conn.execute(
                    _subscriptions_query().where(
                        topics.c.name == topic, topic_subscriptions.c.id == subscription_id
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"topic {topic!r} has no subscription {subscription_id}")
        return _sub(row)

    def list_subscriptions(self, topic: str) -> list[Subscription]:
        with self._db.reading() as conn:
            _topic_id(conn, topic)
            rows = (
                conn.execute(_subscriptions_query().where(topics.c.name == topic)).mappings().all()
            )
        return [_sub(row) for row in rows]

    def unsubscribe(self, topic: str, subscription_id: int) -> None:
        with self._db.writing() as conn:
            topic_id = _topic_id(conn, topic)
            deleted = conn.execute(
                topic_subscriptions.delete().where(
                    topic_subscriptions.c.topic_id == topic_id,
                    topic_subscriptions.c.id == subscription_id,
                )
            ).rowcount
        if not deleted:
            raise NotFound(f"topic {topic!r} has no subscription {subscription_id}")

    # -- publishing ----------------------------------------------------------------

    def publish(
        self,
        topic: str,
        message: Any,
        *,
        message_size: int,
        delay_seconds: float = 0,
        idempotency_key: str | None = None,
        publisher_app_id: int | None = None,
    ) -> Publication:
        """Enqueue one execution per subscription the message matches, all in one transaction.

        Any subscription that cannot take the message (its job definition or queue is
        gone, the message does not fit its job's environment) fails the whole publish:
        nothing is enqueued. With ``publisher_app_id`` (an app token's app) the topic
        must list that app as a publisher. With an ``idempotency_key``, publishing the
        same request again answers what the first publish did, and enqueues nothing.
        """
        if not 0 <= delay_seconds <= MAX_DELAY_SECONDS:  # also refuses NaN
            raise InvalidInput(
                f"delay_seconds must be between 0 and {MAX_DELAY_SECONDS}, not {delay_seconds}"
            )
        request_hash = _request_hash(message, delay_seconds)
        try:
            with self._db.writing() as conn:
                topic_id = _publishable_topic(conn, topic, publisher_app_id)
                if idempotency_key is not None:
                    earlier = _earlier_publish(conn, topic, topic_id, idempotency_key, request_hash)
                    if earlier is not None:
                        return earlier
                publication = self._fan_out(
                    conn, topic, topic_id, message, message_size, delay_seconds
                )
                if idempotency_key is not None:
                    _remember(conn, self._db, topic_id, idempotency_key, request_hash, publication)
                if publication.deliveries:
                    wakeups.notify_work(conn)
        except sa.exc.IntegrityError as exc:
            # Only the idempotency key is unique here: a concurrent publish made it first.
            if idempotency_key is None:
                raise StoreError(f"could not store the publish: {exc.orig}") from exc
            with self._db.reading() as conn:
                topic_id = _publishable_topic(conn, topic, publisher_app_id)
                earlier = _earlier_publish(conn, topic, topic_id, idempotency_key, request_hash)
            if earlier is None:
                raise StoreError(f"could not store the publish: {exc.orig}") from exc
            return earlier
        return publication

    def _fan_out(
        self,
        conn: sa.Connection,
        topic: str,
        topic_id: int,
        message: Any,
        message_size: int,
        delay_seconds: float,
    ) -> Publication:
        now = self._db.now()
        run_after = now + timedelta(seconds=delay_seconds)
        s = topic_subscriptions.c
        rows = conn.execute(
            sa.select(
                s.id,
                s.app_id,
                apps.c.name.label("application"),
                s.job,
                s.queue,
                s.filter,
                job_definitions.c.id.label("job_definition_id"),
                job_definitions.c.message_delivery,
                job_definitions.c.priority,
                job_queues.c.id.label("queue_id"),
            )
            .join(apps, apps.c.id == s.app_id)
            .outerjoin(
                job_definitions,
                sa.and_(job_definitions.c.app_id == s.app_id, job_definitions.c.job == s.job),
            )
            .outerjoin(job_queues, job_queues.c.name == s.queue)
            .where(s.topic_id == topic_id)
            .order_by(s.id)
        ).all()
        deliveries = []
        for row in rows:
            if not matches(row.filter, message):
                continue
            _require_runnable(row, topic, message_size)
            inserted = insert_pending(
                conn,
                now,
                PendingRow(
                    row.application,
                    row.app_id,
                    row.job,
                    row.queue,
                    message,
                    run_after,
                    # The job definition's, as an enqueue that names no priority.
                    priority=row.priority if row.priority is not None else DEFAULT_PRIORITY,
                ),
            )
            deliveries.append(
                Delivery(
                    subscription_id=row.id,
                    message_id=inserted["message_id"],
                    application=row.application,
                    job=row.job,
                    queue=row.queue,
                )
            )
        return Publication(topic=topic, deliveries=tuple(deliveries), subscriptions=len(rows))


def _require_runnable(row: Any, topic: str, message_size: int) -> None:
    """Conflict (or TooLarge) when this subscription cannot take the message now."""
    where = f"subscription {row.id} of topic {topic!r}"
    if row.job_definition_id is None:
        raise Conflict(
            f"{where} names job {row.application}/{row.job}, which is not defined any more; "
            "nothing was published: delete the subscription or define the job again"
        )
    if row.queue_id is None:
        raise Conflict(
            f"{where} names job queue {row.queue!r}, which does not exist any more; "
            "nothing was published"
        )
    if (
        message_size > MESSAGE_ENV_LIMIT
        and MessageDelivery(row.message_delivery) is MessageDelivery.ENV
    ):
        raise TooLarge(
            f"message is {message_size} bytes, and job {row.application}/{row.job} ({where}) "
            f"takes its message in the environment variable BARBEQUE_MESSAGE only, which holds "
            f"at most {MESSAGE_ENV_LIMIT} bytes; nothing was published"
        )


def _publishable_topic(conn: sa.Connection, name: str, publisher_app_id: int | None) -> int:
    """The topic's id, if this publisher may publish to it.

    An app that is not a publisher is refused alike whether or not the topic
    exists, so app tokens cannot probe for topic names.
    """
    topic_id = conn.execute(sa.select(topics.c.id).where(topics.c.name == name)).scalar()
    if publisher_app_id is not None:
        allowed = (
            topic_id is not None
            and conn.execute(
                sa.select(topic_publishers.c.app_id).where(
                    topic_publishers.c.topic_id == topic_id,
                    topic_publishers.c.app_id == publisher_app_id,
                )
            ).first()
        )
        if not allowed:
            raise Forbidden(f"this app may not publish to topic {name!r}")
    if topic_id is None:
        raise NotFound(f"topic {name!r} does not exist")
    return int(topic_id)


def _earlier_publish(
    conn: sa.Connection, topic: str, topic_id: int, idempotency_key: str, request_hash: str
) -> Publication | None:
    m = topic_messages.c
    row = conn.execute(
        sa.select(m.request_hash, m.deliveries, m.subscriptions).where(
            m.topic_id == topic_id, m.idempotency_key == idempotency_key
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise Conflict(
            f"idempotency key {idempotency_key!r} was used for a different publish to "
            f"topic {topic!r}"
        )
    return Publication(
        topic=topic,
        deliveries=tuple(Delivery(**delivery) for delivery in row.deliveries),
        subscriptions=row.subscriptions,
        replayed=True,
    )


def _remember(
    conn: sa.Connection,
    db: Database,
    topic_id: int,
    idempotency_key: str,
    request_hash: str,
    publication: Publication,
) -> None:
    conn.execute(
        topic_messages.insert().values(
            topic_id=topic_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            deliveries=[
                {
                    "subscription_id": d.subscription_id,
                    "message_id": d.message_id,
                    "application": d.application,
                    "job": d.job,
                    "queue": d.queue,
                }
                for d in publication.deliveries
            ],
            subscriptions=publication.subscriptions,
            created_at=db.now(),
        )
    )


def _request_hash(message: Any, delay_seconds: float) -> str:
    canonical = json.dumps([message, delay_seconds], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _topic_id(conn: sa.Connection, name: str) -> int:
    topic_id = conn.execute(sa.select(topics.c.id).where(topics.c.name == name)).scalar()
    if topic_id is None:
        raise NotFound(f"topic {name!r} does not exist")
    return int(topic_id)


def _set_publishers(conn: sa.Connection, topic_id: int, publishers: Iterable[str]) -> None:
    for name in sorted(set(publishers)):
        conn.execute(
            topic_publishers.insert().values(topic_id=topic_id, app_id=targets.app_id(conn, name))
        )


def _publishers(conn: sa.Connection, topic_ids: list[int]) -> dict[int, tuple[str, ...]]:
    if not topic_ids:
        return {}
    rows = conn.execute(
        sa.select(topic_publishers.c.topic_id, apps.c.name)
        .join(apps, apps.c.id == topic_publishers.c.app_id)
        .where(topic_publishers.c.topic_id.in_(topic_ids))
        .order_by(apps.c.name)
    ).all()
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(row.topic_id, []).append(row.name)
    return {topic_id: tuple(names) for topic_id, names in found.items()}


def _topic(row: Mapping[Any, Any], publishers: tuple[str, ...]) -> Topic:
    return Topic(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        publishers=publishers,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _subscriptions_query() -> sa.Select[Any]:
    s = topic_subscriptions.c
    return (
        sa.select(*_SUBSCRIPTION_COLUMNS)
        .join(topics, topics.c.id == s.topic_id)
        .join(apps, apps.c.id == s.app_id)
        .order_by(s.id)
    )


def _sub(row: Mapping[Any, Any]) -> Subscription:
    return Subscription(
        id=row["id"],
        topic=row["topic"],
        application=row["application"],
        job=row["job"],
        queue=row["queue"],
        filter=row["filter"],
        created_at=row["created_at"],
    )
