"""``pitmaster notifications``: notification targets, and the rules that send to them."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from pitmaster.cli.exits import ExitCode
from pitmaster.cli.options import AppArgument, JsonOption, QueueArgument, UrlOption
from pitmaster.cli.output import field, print_fields, print_table, show
from pitmaster.cli.remote import call, connect, present
from pitmaster.client import DEFAULT_URL

notifications_cli = typer.Typer(
    help="Manage notification targets (Slack, signed webhooks) and the rules that notify them."
)

_TARGETS = "/v1/notification_targets"
TargetUrl = Annotated[
    str | None,
    typer.Option(
        "--target-url",
        envvar="PITMASTER_TARGET_URL",
        help="where to post (sealed; env: PITMASTER_TARGET_URL)",
    ),
]
Secret = Annotated[
    str | None,
    typer.Option(
        "--secret",
        envvar="PITMASTER_TARGET_SECRET",
        help="webhook signing secret (env: PITMASTER_TARGET_SECRET); made up when not given",
    ),
]
TargetOption = Annotated[
    list[str] | None, typer.Option("--target", "-t", help="a target (repeat: one rule each)")
]
Endings = Annotated[
    str | None,
    typer.Option(
        "--endings",
        help="comma-separated: success,failed,error,timeout,oom,lost,cancelled (default: failures)",
    ),
]
EveryAttempt = Annotated[
    bool, typer.Option("--every-attempt", help="also notify failures that will be retried")
]
ExtraText = Annotated[str, typer.Option("--extra-text", help="added to each message")]


TargetArgument = Annotated[str, typer.Argument(metavar="TARGET", help="the target's name")]
OptionalJob = Annotated[
    str | None, typer.Argument(metavar="JOB", help="none: the app's default rules")
]


def _q(name: str) -> str:
    return quote(name, safe="")


def _targets_table(targets: list[dict[str, Any]]) -> None:
    print_table(
        targets,
        [
            ("NAME", field("name")),
            ("KIND", field("kind")),
            ("URL", field("url_hint")),
            ("SIGNED", field("has_secret")),
            ("DESCRIPTION", field("description")),
        ],
    )


def _said_about_target(done: str) -> Any:
    def text(target: dict[str, Any]) -> None:
        typer.echo(f"{done} target {target['name']}")
        if target.get("secret"):
            typer.echo(f"signing secret (shown only this once): {target['secret']}")

    return text


def _deliveries_table(deliveries: list[dict[str, Any]]) -> None:
    print_table(
        deliveries,
        [
            ("DELIVERY_ID", field("delivery_id")),
            ("EVENT", field("event")),
            ("STATE", field("state")),
            ("TRIES", field("tries")),
            ("LAST_STATUS", field("last_status_code")),
            ("LAST_TRIED_AT", field("last_tried_at")),
            ("LAST_ANSWER", field("last_answer")),
        ],
    )


def _when(rule: dict[str, Any]) -> str:
    if rule.get("pending_minutes") is not None:
        return f"pending > {rule['pending_minutes']:g} min"
    return "after the last retry" if rule.get("after_last_retry", True) else "every attempt"


def _rules_table(rules: list[dict[str, Any]]) -> None:
    print_table(
        rules,
        [
            ("TARGET", field("target")),
            ("ENDINGS", field("endings")),
            ("WHEN", _when),
            ("EXTRA_TEXT", field("extra_text")),
        ],
    )


def _rules_set(whose: str) -> Any:
    def text(rules: list[dict[str, Any]]) -> None:
        if not rules:
            typer.echo(f"cleared the notification rules of {whose}")
            return
        targets = ", ".join(rule["target"] for rule in rules)
        typer.echo(f"set {len(rules)} notification rule(s) of {whose}: {targets}")

    return text


@notifications_cli.command("targets")
def targets(as_json: JsonOption = False, url: UrlOption = DEFAULT_URL) -> None:
    """List notification targets (their URLs hidden)."""
    with connect(url) as client:
        show(client.get(_TARGETS), as_json, _targets_table)


@notifications_cli.command("target-show")
def target_show(
    name: TargetArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """Show one notification target (its URL hidden)."""
    with connect(url) as client:
        target = client.get(f"{_TARGETS}/{_q(name)}")

    def text(target: dict[str, Any]) -> None:
        print_fields(
            [
                ("name", target["name"]),
                ("kind", target["kind"]),
                ("url", target.get("url_hint")),
                ("signed", target.get("has_secret")),
                ("description", target.get("description")),
                ("created_at", target.get("created_at")),
                ("updated_at", target.get("updated_at")),
            ]
        )

    show(target, as_json, text)


@notifications_cli.command("target-create")
def target_create(
    name: TargetArgument,
    kind: Annotated[str, typer.Option("--kind", help="slack or webhook")],
    target_url: TargetUrl = None,
    secret: Secret = None,
    description: Annotated[str, typer.Option("--description")] = "",
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Make a target; a webhook's made-up secret is printed this once."""
    if target_url is None:
        typer.echo("pitmaster: --target-url (or PITMASTER_TARGET_URL) is required", err=True)
        raise typer.Exit(ExitCode.USAGE)
    body: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "url": target_url,
        "description": description,
    }
    body |= present(secret=secret)
    with connect(url) as client:
        made = client.request("POST", _TARGETS, json=body)
    show(made, as_json, _said_about_target("created"))


@notifications_cli.command("target-update")
def target_update(
    name: TargetArgument,
    target_url: TargetUrl = None,
    secret: Secret = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change a target's URL, signing secret or description."""
    body = present(url=target_url, secret=secret, description=description)
    with connect(url) as client:
        changed = client.request("PATCH", f"{_TARGETS}/{_q(name)}", json=body)
    show(changed, as_json, _said_about_target("updated"))


@notifications_cli.command("target-delete")
def target_delete(name: TargetArgument, url: UrlOption = DEFAULT_URL) -> None:
    """Delete a target with its rules and notifications."""
    call(url, "DELETE", f"{_TARGETS}/{_q(name)}", quiet=True)
    typer.echo(f"deleted target {name}")


@notifications_cli.command("deliveries")
def deliveries(
    name: TargetArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """A target's recent notifications: state, tries, the receiver's last answer."""
    with connect(url) as client:
        show(client.get(f"{_TARGETS}/{_q(name)}/deliveries"), as_json, _deliveries_table)


@notifications_cli.command("test")
def send_test(
    name: TargetArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """Queue a test notification to a target."""
    with connect(url) as client:
        sent = client.request("POST", f"{_TARGETS}/{_q(name)}/test")
    show(
        sent,
        as_json,
        lambda s: typer.echo(f"queued test notification {s['delivery_id']} to target {name}"),
    )


def _rules_path(app: str, job: str | None) -> str:
    if job is None:
        return f"/v1/apps/{_q(app)}/notification_rules"
    return f"/v1/apps/{_q(app)}/job_definitions/{_q(job)}/notification_rules"


def _whose(app: str, job: str | None) -> str:
    return f"app {app}" if job is None else f"{app}/{job}"


@notifications_cli.command("rules")
def rules(
    app: AppArgument,
    job: OptionalJob = None,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Show the rules of a job, or (no JOB) of an app: the default of its jobs."""
    with connect(url) as client:
        show(client.get(_rules_path(app, job)), as_json, _rules_table)


@notifications_cli.command("rules-set")
def rules_set(
    app: AppArgument,
    job: OptionalJob = None,
    target: TargetOption = None,
    endings: Endings = None,
    every_attempt: EveryAttempt = False,
    extra_text: ExtraText = "",
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Replace the rules of a job (or app): one rule per --target; none clears them."""
    body = []
    for name in target or []:
        rule: dict[str, Any] = {"target": name, "after_last_retry": not every_attempt}
        rule["extra_text"] = extra_text
        if endings is not None:
            rule["endings"] = [part.strip() for part in endings.split(",") if part.strip()]
        body.append(rule)
    with connect(url) as client:
        replaced = client.request("PUT", _rules_path(app, job), json=body)
    show(replaced, as_json, _rules_set(_whose(app, job)))


@notifications_cli.command("queue-rules")
def queue_rules(
    queue: QueueArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """Show a queue's rules: which targets hear of work pending too long."""
    with connect(url) as client:
        show(client.get(f"/v1/job_queues/{_q(queue)}/notification_rules"), as_json, _rules_table)


@notifications_cli.command("queue-rules-set")
def queue_rules_set(
    queue: QueueArgument,
    target: TargetOption = None,
    pending_minutes: Annotated[
        float, typer.Option("--pending-minutes", help="notify work pending longer than this")
    ] = 15,
    extra_text: ExtraText = "",
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Replace a queue's rules: notify once for each execution pending too long."""
    body = [
        {"target": name, "pending_minutes": pending_minutes, "extra_text": extra_text}
        for name in target or []
    ]
    with connect(url) as client:
        replaced = client.request(
            "PUT", f"/v1/job_queues/{_q(queue)}/notification_rules", json=body
        )
    show(replaced, as_json, _rules_set(f"queue {queue}"))
