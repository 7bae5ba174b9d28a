"""Topics: the list, one topic with its subscriptions, and publishing to it (admins only)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import Path, Request
from fastapi.responses import HTMLResponse, Response

from pitmaster.errors import Conflict, InvalidInput, NotFound, TooLarge
from pitmaster.http_common.deps import Services, ServicesDep
from pitmaster.services import topics
from pitmaster.topics import Publication, Subscription
from pitmaster.web import topic_forms
from pitmaster.web.forms import FormInvalid
from pitmaster.web.pages import common
from pitmaster.web.pages.common import (
    PostedForm,
    admin_router,
    errors_of,
    next_page,
    redirect,
    render,
    status_of,
)
from pitmaster.web.sessions import ConsoleCallerDep

_REFUSED = (FormInvalid, Conflict, InvalidInput, NotFound, TooLarge)
_SUBSCRIPTION_ID_MAX = 2**63 - 1


def _url(name: str) -> str:
    return f"/topics/{quote(name, safe='')}"


def filter_text(subscription: Subscription) -> str:
    """A subscription's filter as the JSON it was given; ``every message`` without one."""
    if not subscription.filter:
        return "every message"
    return json.dumps(subscription.filter, ensure_ascii=False)


def _topics_page(
    request: Request,
    services: Services,
    after: str = "",
    status_code: int = 200,
    values: dict[str, str] | None = None,
    errors: list[str] | None = None,
) -> HTMLResponse:
    page = services.store.list_topics(common.NAMES_PAGE_SIZE, after or None)
    next_url = next_page(request.url.path, page, page[-1].name) if page else None
    return render(
        request,
        "topics.html",
        status_code,
        topics=page,
        next_url=next_url,
        values=values or {},
        errors=errors or [],
    )


@admin_router.get("/topics", response_class=HTMLResponse)
def topics_index(request: Request, services: ServicesDep, after: str = "") -> HTMLResponse:
    return _topics_page(request, services, after)


@admin_router.post("/topics", response_class=HTMLResponse)
def topic_create(request: Request, form: PostedForm, services: ServicesDep) -> Response:
    try:
        topic = topics.create_topic(services.store, topic_forms.topic_create(form))
    except _REFUSED as error:
        return _topics_page(
            request,
            services,
            status_code=status_of(error),
            values=form.as_dict(),
            errors=errors_of(error),
        )
    return redirect(_url(topic.name))


def _topic_page(
    request: Request,
    services: Services,
    name: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    topic = services.store.get_topic(name)
    subscriptions = services.store.list_subscriptions(name)
    given: dict[str, Any] = {
        "values": {},
        "subscribe_errors": [],
        "publish_errors": [],
        "published": None,
    }
    return render(
        request,
        "topic.html",
        status_code,
        topic=topic,
        subscriptions=[(s, filter_text(s)) for s in subscriptions],
        **(given | context),
    )


@admin_router.get("/topics/{name}", response_class=HTMLResponse)
def topic_show(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    return _topic_page(request, services, name)


@admin_router.post("/topics/{name}/delete")
def topic_delete(name: str, _form: PostedForm, services: ServicesDep) -> Response:
    topics.delete_topic(services.store, name)
    return redirect("/topics")


@admin_router.post("/topics/{name}/subscriptions", response_class=HTMLResponse)
def subscription_create(
    request: Request, name: str, form: PostedForm, services: ServicesDep
) -> Response:
    services.store.get_topic(name)  # an unknown topic is the page's 404, not the form's
    try:
        topics.subscribe(services.store, name, topic_forms.subscription_create(form))
    except _REFUSED as error:
        return _topic_page(
            request,
            services,
            name,
            status_of(error),
            values=form.as_dict(),
            subscribe_errors=errors_of(error),
        )
    return redirect(_url(name))


@admin_router.post("/topics/{name}/subscriptions/{subscription_id}/delete")
def subscription_delete(
    name: str,
    subscription_id: int = Path(ge=1, le=_SUBSCRIPTION_ID_MAX),
    *,
    _form: PostedForm,
    services: ServicesDep,
) -> Response:
    topics.unsubscribe(services.store, name, subscription_id)
    return redirect(_url(name))


@admin_router.post("/topics/{name}/messages", response_class=HTMLResponse)
def topic_publish(
    request: Request, name: str, form: PostedForm, services: ServicesDep, caller: ConsoleCallerDep
) -> Response:
    services.store.get_topic(name)
    try:
        order = topic_forms.publish_order(name, form)
        publication = topics.publish(services.store, services.wakeup, caller, order)
    except _REFUSED as error:
        return _topic_page(
            request,
            services,
            name,
            status_of(error),
            values=form.as_dict(),
            publish_errors=errors_of(error),
        )
    return _topic_page(
        request, services, name, published=(publication, published_text(publication))
    )


def published_text(publication: Publication) -> str:
    if publication.subscriptions == 0:
        return "The topic has no subscriptions: nothing was enqueued."
    if not publication.deliveries:
        return (
            f"The message matched none of the {publication.subscriptions} subscriptions' "
            "filters: nothing was enqueued."
        )
    return (
        f"Enqueued {len(publication.deliveries)} executions "
        f"for {publication.subscriptions} subscriptions."
    )
