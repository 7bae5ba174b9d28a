"""``pitmaster topics``: topics, their subscriptions, and publishing to them."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from pitmaster.cli.options import UrlOption
from pitmaster.cli.output import print_json
from pitmaster.cli.remote import call, connect, present
from pitmaster.client import DEFAULT_URL

topics_cli = typer.Typer(
    help="Manage topics: a message published to one enqueues each subscribed job."
)

PublisherOption = Annotated[
    list[str] | None,
    typer.Option("--publisher", "-p", help="an app whose tokens may publish (repeat for more)"),
]


def _json(option: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        typer.echo(f"pitmaster: {option} is not valid JSON: {exc}", err=True)
        raise typer.Exit(2) from exc


@topics_cli.command("list")
def topics_list(url: UrlOption = DEFAULT_URL) -> None:
    """List topics."""
    call(url, "GET", "/v1/topics")


@topics_cli.command("show")
def topics_show(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Show a topic and its subscriptions."""
    with connect(url) as client:
        topic = client.get(f"/v1/topics/{name}")
        topic["subscriptions"] = client.get(f"/v1/topics/{name}/subscriptions")
    print_json(topic)


@topics_cli.command("create")
def topics_create(
    name: str,
    description: Annotated[str, typer.Option("--description")] = "",
    publishers: PublisherOption = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create a topic; --publisher names an app whose tokens may publish to it."""
    body = {"name": name, "description": description, "publishers": publishers or []}
    call(url, "POST", "/v1/topics", body)


@topics_cli.command("update")
def topics_update(
    name: str,
    description: Annotated[str | None, typer.Option("--description")] = None,
    publishers: PublisherOption = None,
    no_publishers: Annotated[
        bool, typer.Option("--no-publishers", help="only admin tokens may publish")
    ] = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change a topic's description, or replace its publishers."""
    body = present(description=description, publishers=publishers)
    if no_publishers:
        body["publishers"] = []
    call(url, "PATCH", f"/v1/topics/{name}", body)


@topics_cli.command("delete")
def topics_delete(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Delete a topic and its subscriptions (what it enqueued stays)."""
    call(url, "DELETE", f"/v1/topics/{name}")
    typer.echo(f"deleted topic {name}")


@topics_cli.command("subscribe")
def topics_subscribe(
    topic: str,
    application: Annotated[str, typer.Argument(help="app name")],
    job: Annotated[str, typer.Argument(help="job name")],
    queue: Annotated[str, typer.Option("--queue", "-q", help="job queue")] = "default",
    message_filter: Annotated[
        str | None,
        typer.Option(
            "--filter",
            help="JSON object: top-level keys of the message and the value (or list of "
            'values) each must have, e.g. {"kind": ["paid"]}',
        ),
    ] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Subscribe APPLICATION's JOB to TOPIC: each matching message enqueues it."""
    body: dict[str, Any] = {"application": application, "job": job, "queue": queue}
    if message_filter is not None:
        body["filter"] = _json("--filter", message_filter)
    call(url, "POST", f"/v1/topics/{topic}/subscriptions", body)


@topics_cli.command("subscriptions")
def topics_subscriptions(topic: str, url: UrlOption = DEFAULT_URL) -> None:
    """List TOPIC's subscriptions."""
    call(url, "GET", f"/v1/topics/{topic}/subscriptions")


@topics_cli.command("unsubscribe")
def topics_unsubscribe(
    topic: str,
    subscription_id: Annotated[int, typer.Argument(metavar="ID", help="the subscription's id")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Delete one of TOPIC's subscriptions."""
    call(url, "DELETE", f"/v1/topics/{topic}/subscriptions/{subscription_id}")
    typer.echo(f"deleted subscription {subscription_id} of topic {topic}")


@topics_cli.command("publish")
def topics_publish(
    topic: str,
    message: Annotated[
        str, typer.Option("--message", "-m", help="the message, as JSON (not null)")
    ] = "{}",
    delay: Annotated[float, typer.Option("--delay", help="seconds to wait before running")] = 0,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="publishing again with it publishes nothing new"),
    ] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Publish a message to TOPIC and print the message_id of each execution it enqueued."""
    body: dict[str, Any] = {"message": _json("--message", message), "delay_seconds": delay}
    body |= present(idempotency_key=idempotency_key)
    with connect(url) as client:
        result = client.request("POST", f"/v1/topics/{topic}/messages", json=body)
    for message_id in result["message_ids"]:
        typer.echo(message_id)
    typer.echo(result["detail"], err=True)
