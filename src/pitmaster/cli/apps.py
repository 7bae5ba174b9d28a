"""``pitmaster apps``, and ``pitmaster apply``, which sets up apps and all they hold from a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pitmaster.cli.options import LimitOption, NoLimitOption, UrlOption, limit_fields
from pitmaster.cli.remote import call, connect, present
from pitmaster.client import DEFAULT_URL

apps_cli = typer.Typer(help="Manage apps (a name and the Docker image its jobs run in).")


def apply(
    file: Annotated[Path, typer.Option("-f", "--file", help="YAML file to apply")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create or update the apps, job definitions and queues that FILE describes."""
    from pitmaster import apply as apply_file

    spec = apply_file.load(file)
    with connect(url) as client:
        apply_file.apply(client, spec, typer.echo)


@apps_cli.command("list")
def apps_list(url: UrlOption = DEFAULT_URL) -> None:
    """List apps."""
    call(url, "GET", "/v1/apps")


@apps_cli.command("show")
def apps_show(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Show one app."""
    call(url, "GET", f"/v1/apps/{name}")


@apps_cli.command("create")
def apps_create(
    name: str,
    image: Annotated[str, typer.Option("--image", help="Docker image, repo:tag")],
    description: Annotated[str, typer.Option("--description")] = "",
    max_concurrent: LimitOption = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create an app."""
    body = {
        "name": name,
        "docker_image": image,
        "description": description,
        "max_concurrent_executions": max_concurrent,
    }
    call(url, "POST", "/v1/apps", body)


@apps_cli.command("update")
def apps_update(
    name: str,
    image: Annotated[str | None, typer.Option("--image")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    max_concurrent: LimitOption = None,
    no_limit: NoLimitOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change an app's image, description or concurrency limit."""
    body = present(docker_image=image, description=description)
    body |= limit_fields(max_concurrent, no_limit)
    call(url, "PATCH", f"/v1/apps/{name}", body)


@apps_cli.command("lock")
def apps_lock(name: str, revision: str, url: UrlOption = DEFAULT_URL) -> None:
    """Run NAME's jobs in the REVISION tag of its image until unlocked."""
    call(url, "POST", f"/v1/apps/{name}/revision_lock", {"revision": revision})


@apps_cli.command("unlock")
def apps_unlock(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Run NAME's jobs in its docker_image as given again."""
    call(url, "DELETE", f"/v1/apps/{name}/revision_lock")


@apps_cli.command("delete")
def apps_delete(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Delete an app and its job definitions (its executions stay)."""
    call(url, "DELETE", f"/v1/apps/{name}")
    typer.echo(f"deleted app {name}")


@apps_cli.command("pause")
def apps_pause(
    name: str,
    reason: Annotated[str, typer.Option("--reason", help="shown as the pending reason")] = "",
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Start nothing more of NAME's work, in any queue; running work goes on."""
    call(url, "POST", f"/v1/apps/{name}/pause", {"reason": reason})


@apps_cli.command("resume")
def apps_resume(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Let a paused app's work start again."""
    call(url, "POST", f"/v1/apps/{name}/resume")
