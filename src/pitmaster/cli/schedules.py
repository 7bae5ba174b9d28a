"""``pitmaster schedules``: cron schedules, pausing and resuming them, running one now."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

import typer

from pitmaster.cli.executions import executions_table
from pitmaster.cli.exits import ExitCode
from pitmaster.cli.options import AppArgument, JobArgument, JsonOption, UrlOption
from pitmaster.cli.output import field, print_fields, print_table, show
from pitmaster.cli.remote import call, connect, present
from pitmaster.client import DEFAULT_URL

schedules_cli = typer.Typer(
    help="Manage cron schedules: an app's job enqueued at each tick of a cron expression."
)

MessageOption = Annotated[
    str | None, typer.Option("--message", "-m", help="each run's message, as JSON")
]
TimezoneOption = Annotated[
    str | None, typer.Option("--timezone", "--tz", help="IANA time zone, e.g. Europe/Berlin")
]
MissedOption = Annotated[
    str | None,
    typer.Option("--missed-ticks", help="skip, once (one catch-up run) or all (up to the limit)"),
]
CatchUpOption = Annotated[
    int | None, typer.Option("--catch-up-limit", help="with --missed-ticks all: most runs")
]
DescriptionOption = Annotated[str | None, typer.Option("--description")]


ScheduleArgument = Annotated[str, typer.Argument(metavar="NAME", help="the schedule's name")]


def _path(name: str, *rest: str) -> str:
    return "/".join(["/v1/schedules", quote(name, safe=""), *rest])


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        typer.echo(f"pitmaster: --message is not valid JSON: {exc}", err=True)
        raise typer.Exit(ExitCode.USAGE) from exc


def _job(schedule: dict[str, Any]) -> str:
    return f"{schedule['application']}/{schedule['job']}"


def _schedules_table(schedules: list[dict[str, Any]]) -> None:
    print_table(
        schedules,
        [
            ("NAME", field("name")),
            ("JOB", _job),
            ("QUEUE", field("queue")),
            ("CRON", field("cron")),
            ("TIMEZONE", field("timezone")),
            ("PAUSED", field("paused")),
            ("NEXT_TICK", field("next_tick")),
        ],
    )


def _schedule_fields(schedule: dict[str, Any]) -> None:
    print_fields(
        [
            ("name", schedule["name"]),
            ("job", _job(schedule)),
            ("queue", schedule["queue"]),
            ("cron", schedule["cron"]),
            ("timezone", schedule["timezone"]),
            ("missed_ticks", schedule["missed_ticks"]),
            ("catch_up_limit", schedule["catch_up_limit"]),
            ("paused", schedule["paused"]),
            ("message", json.dumps(schedule.get("message"), ensure_ascii=False)),
            ("description", schedule.get("description")),
            ("last_tick", schedule.get("last_tick")),
            ("last_error", schedule.get("last_error")),
            ("next_runs", schedule.get("next_runs")),
        ]
    )


def _said(text: str) -> Any:
    return lambda _answer: typer.echo(text)


@schedules_cli.command("list")
def schedules_list(
    application: Annotated[str | None, typer.Option("--app", help="only this app's")] = None,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """List schedules, with their next run times."""
    with connect(url) as client:
        show(client.get("/v1/schedules", application=application), as_json, _schedules_table)


@schedules_cli.command("show")
def schedules_show(
    name: ScheduleArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """Show a schedule and its next five run times."""
    with connect(url) as client:
        show(client.get(_path(name)), as_json, _schedule_fields)


@schedules_cli.command("create")
def schedules_create(
    name: ScheduleArgument,
    application: AppArgument,
    job: JobArgument,
    cron: Annotated[
        str,
        typer.Argument(metavar="CRON", help='5 fields, e.g. "0 3 * * *", or @hourly etc.'),
    ],
    queue: Annotated[str, typer.Option("--queue", "-q", help="job queue")] = "default",
    message: MessageOption = None,
    timezone: TimezoneOption = None,
    missed_ticks: MissedOption = None,
    catch_up_limit: CatchUpOption = None,
    description: DescriptionOption = None,
    paused: Annotated[bool, typer.Option("--paused", help="create it paused")] = False,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create a schedule: APP's JOB is enqueued at each tick of CRON."""
    body: dict[str, Any] = {
        "name": name,
        "application": application,
        "job": job,
        "cron": cron,
        "queue": queue,
        "paused": paused,
    }
    body |= present(
        message=_json(message),
        timezone=timezone,
        missed_ticks=missed_ticks,
        catch_up_limit=catch_up_limit,
        description=description,
    )
    with connect(url) as client:
        made = client.request("POST", "/v1/schedules", json=body)
    show(
        made, as_json, lambda m: typer.echo(f"created schedule {name}, next tick {m['next_tick']}")
    )


@schedules_cli.command("update")
def schedules_update(
    name: ScheduleArgument,
    cron: Annotated[str | None, typer.Option("--cron", help="a new cron expression")] = None,
    job: Annotated[str | None, typer.Option("--job")] = None,
    queue: Annotated[str | None, typer.Option("--queue", "-q")] = None,
    message: MessageOption = None,
    timezone: TimezoneOption = None,
    missed_ticks: MissedOption = None,
    catch_up_limit: CatchUpOption = None,
    description: DescriptionOption = None,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change what is given; a new cron or time zone starts from its next tick."""
    body = present(
        cron=cron,
        job=job,
        queue=queue,
        message=_json(message),
        timezone=timezone,
        missed_ticks=missed_ticks,
        catch_up_limit=catch_up_limit,
        description=description,
    )
    with connect(url) as client:
        changed = client.request("PATCH", _path(name), json=body)
    show(changed, as_json, _said(f"updated schedule {name}"))


@schedules_cli.command("delete")
def schedules_delete(name: ScheduleArgument, url: UrlOption = DEFAULT_URL) -> None:
    """Delete a schedule (the executions it made stay)."""
    call(url, "DELETE", _path(name), quiet=True)
    typer.echo(f"deleted schedule {name}")


@schedules_cli.command("pause")
def schedules_pause(
    name: ScheduleArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """Stop ticking; ticks while paused never run."""
    with connect(url) as client:
        paused = client.request("POST", _path(name, "pause"))
    show(paused, as_json, _said(f"paused schedule {name}"))


@schedules_cli.command("resume")
def schedules_resume(
    name: ScheduleArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """Tick again, from the next tick after now."""
    with connect(url) as client:
        resumed = client.request("POST", _path(name, "resume"))
    show(
        resumed,
        as_json,
        lambda r: typer.echo(f"resumed schedule {name}, next tick {r['next_tick']}"),
    )


@schedules_cli.command("run")
def schedules_run(
    name: ScheduleArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """Enqueue the schedule's job now, once, and print its message_id."""
    with connect(url) as client:
        result = client.request("POST", _path(name, "runs"))
    show(result, as_json, lambda r: typer.echo(r["message_id"]))


@schedules_cli.command("executions")
def schedules_executions(
    name: ScheduleArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """List the executions a schedule made, newest first."""
    with connect(url) as client:
        page = client.get("/v1/job_executions", schedule=name)
    show(page["items"], as_json, executions_table)
