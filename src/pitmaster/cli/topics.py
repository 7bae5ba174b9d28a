"""``pitmaster topics``: topics, their subscriptions, and publishing to them."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from pitmaster.cli.exits import ExitCode
from pitmaster.cli.options import AppArgument, JobArgument, JsonOption, TopicArgument, UrlOption
from pitmaster.cli.output import field, print_fields, print_json, print_table, show
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
        raise typer.Exit(ExitCode.USAGE) from exc


def _filter_text(subscription: dict[str, Any]) -> str:
    rule = subscription.get("filter")
    return "every message" if rule is None else json.dumps(rule, ensure_ascii=False)


def _subscriptions_table(subscriptions: list[dict[str, Any]]) -> None:
    print_table(
        subscriptions,
        [
            ("ID", field("id")),
            ("JOB", lambda row: f"{row['application']}/{row['job']}"),
            ("QUEUE", field("queue")),
            ("FILTER", _filter_text),
        ],
    )


def _topics_table(topics: list[dict[str, Any]]) -> None:
    print_table(
        topics,
        [
            ("NAME", field("name")),
            ("PUBLISHERS", field("publishers")),
            ("DESCRIPTION", field("description")),
        ],
    )


def _topic_text(topic: dict[str, Any]) -> None:
    print_fields(
        [
            ("name", topic["name"]),
            ("publishers", topic.get("publishers") or "admin tokens only"),
            ("description", topic.get("description")),
        ]
    )
    typer.echo("")
    _subscriptions_table(topic["subscriptions"])


@topics_cli.command("list")
def topics_list(as_json: JsonOption = False, url: UrlOption = DEFAULT_URL) -> None:
    """List topics."""
    with connect(url) as client:
        show(client.get("/v1/topics"), as_json, _topics_table)


@topics_cli.command("show")
def topics_show(
    name: TopicArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """Show a topic and its subscriptions."""
    with connect(url) as client:
        topic = client.get(f"/v1/topics/{name}")
        topic["subscriptions"] = client.get(f"/v1/topics/{name}/subscriptions")
    show(topic, as_json, _topic_text)


@topics_cli.command("create")
def topics_create(
    name: TopicArgument,
    description: Annotated[str, typer.Option("--description")] = "",
    publishers: PublisherOption = None,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create a topic; --publisher names an app whose tokens may publish to it."""
    body = {"name": name, "description": description, "publishers": publishers or []}
    with connect(url) as client:
        made = client.request("POST", "/v1/topics", json=body)
    show(made, as_json, lambda _made: typer.echo(f"created topic {name}"))


@topics_cli.command("update")
def topics_update(
    name: TopicArgument,
    description: Annotated[str | None, typer.Option("--description")] = None,
    publishers: PublisherOption = None,
    no_publishers: Annotated[
        bool, typer.Option("--no-publishers", help="only admin tokens may publish")
    ] = False,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change a topic's description, or replace its publishers."""
    body = present(description=description, publishers=publishers)
    if no_publishers:
        body["publishers"] = []
    with connect(url) as client:
        changed = client.request("PATCH", f"/v1/topics/{name}", json=body)
    show(changed, as_json, lambda _changed: typer.echo(f"updated topic {name}"))


@topics_cli.command("delete")
def topics_delete(name: TopicArgument, url: UrlOption = DEFAULT_URL) -> None:
    """Delete a topic and its subscriptions (what it enqueued stays)."""
    call(url, "DELETE", f"/v1/topics/{name}", quiet=True)
    typer.echo(f"deleted topic {name}")


@topics_cli.command("subscribe")
def topics_subscribe(
    topic: TopicArgument,
    application: AppArgument,
    job: JobArgument,
    queue: Annotated[str, typer.Option("--queue", "-q", help="job queue")] = "default",
    message_filter: Annotated[
        str | None,
        typer.Option(
            "--filter",
            help="JSON object: top-level keys of the message and the value (or list of "
            'values) each must have, e.g. {"kind": ["paid"]}',
        ),
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Subscribe APP's JOB to TOPIC: each matching message enqueues it."""
    body: dict[str, Any] = {"application": application, "job": job, "queue": queue}
    if message_filter is not None:
        body["filter"] = _json("--filter", message_filter)
    with connect(url) as client:
        made = client.request("POST", f"/v1/topics/{topic}/subscriptions", json=body)
    show(
        made,
        as_json,
        lambda m: typer.echo(f"subscribed {application}/{job} to topic {topic}: id {m['id']}"),
    )


@topics_cli.command("subscriptions")
def topics_subscriptions(
    topic: TopicArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """List TOPIC's subscriptions."""
    with connect(url) as client:
        show(client.get(f"/v1/topics/{topic}/subscriptions"), as_json, _subscriptions_table)


@topics_cli.command("unsubscribe")
def topics_unsubscribe(
    topic: TopicArgument,
    subscription_id: Annotated[int, typer.Argument(metavar="ID", help="the subscription's id")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Delete one of TOPIC's subscriptions."""
    call(url, "DELETE", f"/v1/topics/{topic}/subscriptions/{subscription_id}", quiet=True)
    typer.echo(f"deleted subscription {subscription_id} of topic {topic}")


@topics_cli.command("publish")
def topics_publish(
    topic: TopicArgument,
    message: Annotated[
        str, typer.Option("--message", "-m", help="the message, as JSON (not null)")
    ] = "{}",
    delay: Annotated[float, typer.Option("--delay", help="seconds to wait before running")] = 0,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="publishing again with it publishes nothing new"),
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Publish a message to TOPIC and print the message_id of each execution it enqueued."""
    body: dict[str, Any] = {"message": _json("--message", message), "delay_seconds": delay}
    body |= present(idempotency_key=idempotency_key)
    with connect(url) as client:
        result = client.request("POST", f"/v1/topics/{topic}/messages", json=body)
    if as_json:
        print_json(result)
        return
    for message_id in result["message_ids"]:
        typer.echo(message_id)
    typer.echo(result["detail"], err=True)
