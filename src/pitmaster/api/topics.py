"""``/v1/topics``: topics and their subscriptions (admins), and publishing to a topic.

Managing topics and subscriptions needs an admin token. Publishing takes an
admin token, or the token of an app the topic lists as a publisher.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import AfterValidator, BaseModel, Field

from pitmaster.api.schemas import (
    WITH_BODY,
    Delay,
    IdempotencyKey,
    IdempotencyKeyHeader,
    error_responses,
)
from pitmaster.errors import InvalidInput
from pitmaster.http_common.deps import CallerDep, ServicesDep, require_admin
from pitmaster.models import MAX_PAGE_SIZE, NAME_MAX_LENGTH
from pitmaster.services import topics
from pitmaster.services.inputs import (
    NAME_PATTERN,
    Input,
    SubscriptionCreate,
    TopicCreate,
    TopicUpdate,
)
from pitmaster.shown import Shown
from pitmaster.topics import Publication

router = APIRouter(prefix="/v1/topics", tags=["topics"])
admin_router = APIRouter(prefix="/v1/topics", tags=["topics"], dependencies=[require_admin])

_READ = error_responses(404, 422)
_CHANGE = error_responses(*WITH_BODY, 404, 409)
_DELETE = error_responses(404, 422)
_PUBLISH = error_responses(*WITH_BODY, 404, 409)
SubscriptionId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class TopicOut(Shown):
    name: str
    description: str
    publishers: list[str] = Field(description="apps whose tokens may publish to it")
    created_at: datetime
    updated_at: datetime


class SubscriptionOut(Shown):
    id: int
    topic: str
    application: str
    job: str
    queue: str
    filter: dict[str, Any] | None
    created_at: datetime


def _not_null(message: Any) -> Any:
    if message is None:
        raise ValueError("message is required and cannot be null")
    return message


class PublishRequest(Input):
    message: Annotated[Any, AfterValidator(_not_null)] = Field(
        description="free-form JSON, each enqueued job's BARBEQUE_MESSAGE (required, not null)"
    )
    delay_seconds: Delay | None = Field(default=None, description="null: 0")
    idempotency_key: IdempotencyKey | None = Field(
        default=None,
        description="or the Idempotency-Key header: the same key publishes once",
    )


class PublishedExecution(BaseModel):
    subscription_id: int
    message_id: str
    application: str
    job: str
    queue: str


class PublishResponse(BaseModel):
    topic: str
    message_ids: list[str] = Field(description="the executions enqueued, one per match")
    executions: list[PublishedExecution]
    subscriptions: int = Field(description="how many subscriptions the topic had")
    replayed: bool = Field(description="true: the idempotency key had published already")
    detail: str = Field(description="what the publish did, in words")

    @classmethod
    def of(cls, publication: Publication) -> PublishResponse:
        enqueued = publication.enqueued
        if publication.subscriptions == 0:
            detail = f"topic {publication.topic!r} has no subscriptions: nothing was enqueued"
        elif enqueued == 0:
            detail = (
                f"the message matched none of the {publication.subscriptions} subscriptions' "
                "filters: nothing was enqueued"
            )
        else:
            detail = f"enqueued {enqueued} executions for {publication.subscriptions} subscriptions"
            if publication.withheld:
                detail += f" ({publication.withheld} of them in other apps, not listed here)"
        if publication.replayed:
            detail = f"already published with this idempotency key; {detail}"
        return cls(
            topic=publication.topic,
            message_ids=publication.message_ids,
            executions=[
                PublishedExecution(
                    subscription_id=d.subscription_id,
                    message_id=d.message_id,
                    application=d.application,
                    job=d.job,
                    queue=d.queue,
                )
                for d in publication.deliveries
            ],
            subscriptions=publication.subscriptions,
            replayed=publication.replayed,
            detail=detail,
        )


# -- topics ----------------------------------------------------------------------------


@admin_router.post("", status_code=201, responses=_CHANGE)
def create_topic(body: TopicCreate, services: ServicesDep) -> TopicOut:
    """Make a topic; ``publishers`` are the apps whose tokens may publish to it."""
    return TopicOut.of(topics.create_topic(services.store, body))


@admin_router.get("", responses=error_responses(422))
def list_topics(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    after: Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=NAME_MAX_LENGTH)] = None,
) -> list[TopicOut]:
    """Topics by name; ``after`` is the last name of the page before."""
    return [TopicOut.of(topic) for topic in services.store.list_topics(limit, after)]


@admin_router.get("/{name}", responses=_READ)
def get_topic(name: str, services: ServicesDep) -> TopicOut:
    return TopicOut.of(services.store.get_topic(name))


@admin_router.patch("/{name}", responses=_CHANGE)
def update_topic(name: str, body: TopicUpdate, services: ServicesDep) -> TopicOut:
    """Change the description, or replace the publishers."""
    return TopicOut.of(topics.update_topic(services.store, name, body))


@admin_router.delete("/{name}", status_code=204, responses=_DELETE)
def delete_topic(name: str, services: ServicesDep) -> Response:
    """Delete a topic and its subscriptions; executions it enqueued stay."""
    topics.delete_topic(services.store, name)
    return Response(status_code=204)


# -- subscriptions ---------------------------------------------------------------------


@admin_router.post("/{name}/subscriptions", status_code=201, responses=_CHANGE)
def subscribe(name: str, body: SubscriptionCreate, services: ServicesDep) -> SubscriptionOut:
    """Subscribe an app's job, on a queue, to the topic; app, job and queue must exist."""
    return SubscriptionOut.of(topics.subscribe(services.store, name, body))


@admin_router.get("/{name}/subscriptions", responses=_READ)
def list_subscriptions(name: str, services: ServicesDep) -> list[SubscriptionOut]:
    return [SubscriptionOut.of(s) for s in services.store.list_subscriptions(name)]


@admin_router.delete("/{name}/subscriptions/{subscription_id}", status_code=204, responses=_DELETE)
def unsubscribe(name: str, subscription_id: SubscriptionId, services: ServicesDep) -> Response:
    topics.unsubscribe(services.store, name, subscription_id)
    return Response(status_code=204)


# -- publishing ------------------------------------------------------------------------


@router.post("/{name}/messages", status_code=201, responses=_PUBLISH)
def publish(
    name: str,
    body: PublishRequest,
    services: ServicesDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> PublishResponse:
    """Publish a message: one execution per matching subscription, all in one transaction.

    A subscription that cannot take the message (its job or queue is gone: 409; the
    message does not fit a job that takes it in the environment only: 413) fails the
    whole publish and nothing is enqueued. A topic with no subscriptions, or none
    matching, answers 201 with no message_ids and says so in ``detail``.
    """
    if (
        idempotency_key is not None
        and body.idempotency_key is not None
        and idempotency_key != body.idempotency_key
    ):
        raise InvalidInput("the Idempotency-Key header and idempotency_key differ")
    order = topics.PublishOrder(
        topic=name,
        message=body.message,
        delay_seconds=body.delay_seconds,
        idempotency_key=idempotency_key if idempotency_key is not None else body.idempotency_key,
    )
    return PublishResponse.of(topics.publish(services.store, services.wakeup, caller, order))
