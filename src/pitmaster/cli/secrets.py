"""``pitmaster secrets``: apps' secrets, set through the server; keys and rotation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pitmaster.cli.database import load_settings, open_existing_store
from pitmaster.cli.exits import ExitCode
from pitmaster.cli.options import AppArgument, JsonOption, UrlOption
from pitmaster.cli.output import field, print_table, show
from pitmaster.cli.remote import call, connect
from pitmaster.client import DEFAULT_URL

secrets_cli = typer.Typer(
    help="Manage apps' secrets: jobs read each from /run/secrets/NAME; values are never shown."
)


def _read_secret_value(name: str, value_file: Path | None) -> str:
    """The value from a file, else from stdin: never from argv, which shells and ps show."""
    try:
        if value_file is not None:
            return value_file.read_text(encoding="utf-8")
        if sys.stdin.isatty():
            import getpass

            return getpass.getpass(f"value of {name} (not shown): ")
        return sys.stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"pitmaster: cannot read the value of {name}: {exc}", err=True)
        raise typer.Exit(ExitCode.USAGE) from exc


@secrets_cli.command("set")
def secrets_set(
    app_name: AppArgument,
    name: Annotated[str, typer.Argument(metavar="NAME", help="e.g. API_TOKEN")],
    value_file: Annotated[
        Path | None,
        typer.Option("--value-file", help="read the value from this file (default: stdin)"),
    ] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Set APP's secret NAME, read from stdin (or --value-file), exactly as given.

    printf '%s' "$TOKEN" | pitmaster secrets set blog API_TOKEN
    """
    value = _read_secret_value(name, value_file)
    if not value:
        # Most likely nothing was piped in: an empty secret would only fail later, in the job.
        typer.echo(
            f"pitmaster: the value of {name} is empty; pipe it in or give --value-file", err=True
        )
        raise typer.Exit(ExitCode.USAGE)
    with connect(url) as client:
        result = client.request("PUT", f"/v1/apps/{app_name}/secrets/{name}", json={"value": value})
    typer.echo(f"set secret {result['name']} of app {app_name}")


@secrets_cli.command("list")
def secrets_list(
    app_name: AppArgument, as_json: JsonOption = False, url: UrlOption = DEFAULT_URL
) -> None:
    """List APP's secrets: names and when they were set, never values."""
    with connect(url) as client:
        secrets = client.get(f"/v1/apps/{app_name}/secrets")
    show(secrets, as_json, _secrets_table)


def _secrets_table(secrets: list[dict[str, Any]]) -> None:
    print_table(secrets, [("NAME", field("name")), ("UPDATED_AT", field("updated_at"))])


@secrets_cli.command("delete")
def secrets_delete(
    app_name: AppArgument,
    name: Annotated[str, typer.Argument(metavar="NAME")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Delete APP's secret NAME."""
    call(url, "DELETE", f"/v1/apps/{app_name}/secrets/{name}", quiet=True)
    typer.echo(f"deleted secret {name} of app {app_name}")


@secrets_cli.command("new-key")
def secrets_new_key() -> None:
    """Print a new random key for PITMASTER_SECRETS_KEY."""
    from pitmaster.app_secrets import new_key

    typer.echo(new_key())


@secrets_cli.command("rotate")
def secrets_rotate() -> None:
    """Re-seal every stored secret under the first key of PITMASTER_SECRETS_KEY.

    Runs against the database (PITMASTER_DATABASE_URL), like `migrate`. To
    rotate: put the new key first and keep the old one after it, comma-separated,
    on the server and the workers; run this; then drop the old key.
    """
    from pitmaster.app_secrets import require_box
    from pitmaster.services import catalog

    settings = load_settings()
    box = require_box(settings.secrets_keys)
    store = open_existing_store(settings)
    try:
        resealed, skipped = catalog.reseal_secrets(store, box)
        targets = store.notifications.reseal_targets(box.reseal)
    finally:
        store.close()
    typer.echo(
        f"re-sealed {resealed} secrets" + (f" ({skipped} changed meanwhile)" if skipped else "")
    )
    if targets:
        typer.echo(f"re-sealed {targets} notification targets")
