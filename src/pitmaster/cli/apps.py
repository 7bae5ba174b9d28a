"""``pitmaster apps``, and ``pitmaster apply``, which sets up apps and all they hold from a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pitmaster.cli.options import (
    AppArgument,
    JsonOption,
    LimitOption,
    NoLimitOption,
    UrlOption,
    limit_fields,
)
from pitmaster.cli.output import (
    field,
    limit_text,
    paused_text,
    print_fields,
    print_table,
    show,
)
from pitmaster.cli.remote import call, connect, present
from pitmaster.client import DEFAULT_URL

apps_cli = typer.Typer(help="Manage apps (a name and the Docker image its jobs run in).")


def apply(
    file: Annotated[Path, typer.Option("-f", "--file", metavar="FILE", help="YAML file to apply")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create or update the apps, job definitions, queues and topics that FILE describes."""
    from pitmaster import apply as apply_file

    spec = apply_file.load(file)
    with connect(url) as client:
        apply_file.apply(client, spec, typer.echo)


def _apps_table(apps: list[dict[str, Any]]) -> None:
    print_table(
        apps,
        [
            ("NAME", field("name")),
            ("DOCKER_IMAGE", field("docker_image")),
            ("REVISION_LOCK", field("revision_lock")),
            ("LIMIT", limit_text),
            ("DESCRIPTION", field("description")),
        ],
    )


def _app_fields(app: dict[str, Any]) -> None:
    print_fields(
        [
            ("name", app["name"]),
            ("docker_image", app["docker_image"]),
            ("revision_lock", app.get("revision_lock")),
            ("max_concurrent", limit_text(app)),
            ("description", app.get("description")),
            ("paused", paused_text(app)),
            ("created_at", app.get("created_at")),
            ("updated_at", app.get("updated_at")),
        ]
    )


def _said(text: str) -> Any:
    return lambda _answer: typer.echo(text)


@apps_cli.command("list")
def apps_list(as_json: JsonOption = False, url: UrlOption = DEFAULT_URL) -> None:
    """List apps."""
    with connect(url) as client:
        show(client.get("/v1/apps"), as_json, _apps_table)


@apps_cli.command("show")
def apps_show(name: AppArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL) -> None:
    """Show one app."""
    with connect(url) as client:
        show(client.get(f"/v1/apps/{name}"), as_json, _app_fields)


@apps_cli.command("create")
def apps_create(
    name: AppArgument,
    image: Annotated[str, typer.Option("--image", metavar="IMAGE", help="Docker image, repo:tag")],
    description: Annotated[str, typer.Option("--description")] = "",
    max_concurrent: LimitOption = None,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create an app."""
    body = {
        "name": name,
        "docker_image": image,
        "description": description,
        "max_concurrent_executions": max_concurrent,
    }
    with connect(url) as client:
        made = client.request("POST", "/v1/apps", json=body)
    show(made, as_json, _said(f"created app {name}"))


@apps_cli.command("update")
def apps_update(
    name: AppArgument,
    image: Annotated[str | None, typer.Option("--image", metavar="IMAGE")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    max_concurrent: LimitOption = None,
    no_limit: NoLimitOption = False,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change an app's image, description or concurrency limit."""
    body = present(docker_image=image, description=description)
    body |= limit_fields(max_concurrent, no_limit)
    with connect(url) as client:
        changed = client.request("PATCH", f"/v1/apps/{name}", json=body)
    show(changed, as_json, _said(f"updated app {name}"))


@apps_cli.command("lock")
def apps_lock(
    name: AppArgument,
    revision: Annotated[str, typer.Argument(metavar="REVISION", help="the image tag to run")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Run APP's jobs in the REVISION tag of its image until unlocked."""
    call(url, "POST", f"/v1/apps/{name}/revision_lock", {"revision": revision}, quiet=True)
    typer.echo(f"locked app {name} to revision {revision}")


@apps_cli.command("unlock")
def apps_unlock(name: AppArgument, url: UrlOption = DEFAULT_URL) -> None:
    """Run APP's jobs in its docker_image as given again."""
    call(url, "DELETE", f"/v1/apps/{name}/revision_lock", quiet=True)
    typer.echo(f"unlocked app {name}")


@apps_cli.command("delete")
def apps_delete(name: AppArgument, url: UrlOption = DEFAULT_URL) -> None:
    """Delete an app and its job definitions (its executions stay)."""
    call(url, "DELETE", f"/v1/apps/{name}", quiet=True)
    typer.echo(f"deleted app {name}")


@apps_cli.command("pause")
def apps_pause(
    name: AppArgument,
    reason: Annotated[str, typer.Option("--reason", help="shown as the pending reason")] = "",
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Start nothing more of APP's work, in any queue; running work goes on."""
    with connect(url) as client:
        paused = client.request("POST", f"/v1/apps/{name}/pause", json={"reason": reason})
    show(paused, as_json, _said(f"paused app {name}"))


@apps_cli.command("resume")
def apps_resume(
    name: AppArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """Let a paused app's work start again."""
    with connect(url) as client:
        resumed = client.request("POST", f"/v1/apps/{name}/resume")
    show(resumed, as_json, _said(f"resumed app {name}"))
