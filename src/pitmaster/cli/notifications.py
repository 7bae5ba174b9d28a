"""``pitmaster notifications``: notification targets, and the rules that send to them."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from pitmaster.cli.options import UrlOption
from pitmaster.cli.remote import call, present
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


def _q(name: str) -> str:
    return quote(name, safe="")


@notifications_cli.command("targets")
def targets(url: UrlOption = DEFAULT_URL) -> None:
    """List notification targets (their URLs hidden)."""
    call(url, "GET", _TARGETS)


@notifications_cli.command("target-create")
def target_create(
    name: str,
    kind: Annotated[str, typer.Option("--kind", help="slack or webhook")],
    target_url: TargetUrl = None,
    secret: Secret = None,
    description: Annotated[str, typer.Option("--description")] = "",
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Make a target; a webhook's made-up secret is printed this once."""
    if target_url is None:
        typer.echo("pitmaster: --target-url (or PITMASTER_TARGET_URL) is required", err=True)
        raise typer.Exit(2)
    body: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "url": target_url,
        "description": description,
    }
    body |= present(secret=secret)
    call(url, "POST", _TARGETS, body)


@notifications_cli.command("target-update")
def target_update(
    name: str,
    target_url: TargetUrl = None,
    secret: Secret = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change a target's URL, signing secret or description."""
    body = present(url=target_url, secret=secret, description=description)
    call(url, "PATCH", f"{_TARGETS}/{_q(name)}", body)


@notifications_cli.command("target-delete")
def target_delete(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Delete a target with its rules and notifications."""
    call(url, "DELETE", f"{_TARGETS}/{_q(name)}")


@notifications_cli.command("deliveries")
def deliveries(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """A target's recent notifications: state, tries, the receiver's last answer."""
    call(url, "GET", f"{_TARGETS}/{_q(name)}/deliveries")


@notifications_cli.command("test")
def send_test(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Queue a test notification to a target."""
    call(url, "POST", f"{_TARGETS}/{_q(name)}/test")


def _rules_path(app: str, job: str | None) -> str:
    if job is None:
        return f"/v1/apps/{_q(app)}/notification_rules"
    return f"/v1/apps/{_q(app)}/job_definitions/{_q(job)}/notification_rules"


@notifications_cli.command("rules")
def rules(
    app: str, job: Annotated[str | None, typer.Argument()] = None, url: UrlOption = DEFAULT_URL
) -> None:
    """Show the rules of a job, or (no JOB) of an app: the default of its jobs."""
    call(url, "GET", _rules_path(app, job))


@notifications_cli.command("rules-set")
def rules_set(
    app: str,
    job: Annotated[str | None, typer.Argument(help="none: the app's default rules")] = None,
    target: TargetOption = None,
    endings: Endings = None,
    every_attempt: EveryAttempt = False,
    extra_text: ExtraText = "",
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
    call(url, "PUT", _rules_path(app, job), body)


@notifications_cli.command("queue-rules-set")
def queue_rules_set(
    queue: str,
    target: TargetOption = None,
    pending_minutes: Annotated[
        float, typer.Option("--pending-minutes", help="notify work pending longer than this")
    ] = 15,
    extra_text: ExtraText = "",
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Replace a queue's rules: notify once for each execution pending too long."""
    body = [
        {"target": name, "pending_minutes": pending_minutes, "extra_text": extra_text}
        for name in target or []
    ]
    call(url, "PUT", f"/v1/job_queues/{_q(queue)}/notification_rules", body)
