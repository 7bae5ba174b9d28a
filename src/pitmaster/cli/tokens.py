"""``pitmaster token``: API tokens, made and revoked directly in the database."""

from __future__ import annotations

from typing import Annotated

import typer

from pitmaster.cli.database import load_settings, open_existing_store
from pitmaster.cli.options import JsonOption
from pitmaster.cli.output import print_json

token_cli = typer.Typer(
    help="Manage API tokens, directly in the database (PITMASTER_DATABASE_URL), as migrate does."
)


@token_cli.command("create")
def token_create(
    app_name: Annotated[
        str | None,
        typer.Option("--app", metavar="NAME", help="an app token for NAME (default: admin)"),
    ] = None,
    description: Annotated[str, typer.Option("--description", help="what it is for")] = "",
    as_json: JsonOption = False,
) -> None:
    """Make an API token and print it alone on stdout (what it is: stderr). Shown only once.

    An admin token may do everything; an app token (--app) may enqueue into its
    app and read, retry and cancel that app's executions, nothing else.
    """
    from pitmaster.services import tokens
    from pitmaster.services.tokens import TokenOut

    settings = load_settings()
    store = open_existing_store(settings)
    try:
        stored, token = tokens.create_token(store, app_name, description)
    finally:
        store.close()
    if as_json:
        print_json(TokenOut.of(stored).model_dump(mode="json") | {"token": token})
        return
    whose = f" for app {stored.app}" if stored.app else ""
    typer.echo(
        f"made {stored.kind.value} token {stored.id}{whose}; it is shown only this once:",
        err=True,
    )
    typer.echo(token)


@token_cli.command("list")
def token_list(as_json: JsonOption = False) -> None:
    """List API tokens (never their secrets), revoked ones too."""
    from pitmaster.services import tokens
    from pitmaster.services.tokens import TokenOut

    settings = load_settings()
    store = open_existing_store(settings)
    try:
        listed = tokens.list_tokens(store)
    finally:
        store.close()
    if as_json:
        print_json([TokenOut.of(token).model_dump(mode="json") for token in listed])
        return
    typer.echo(f"{'ID':<14} {'KIND':<6} {'APP':<16} {'LAST USED':<20} {'STATE':<8} DESCRIPTION")
    for token in listed:
        last_used = token.last_used_at.strftime("%Y-%m-%d %H:%M") if token.last_used_at else "never"
        state = "revoked" if token.revoked_at else "active"
        typer.echo(
            f"{token.id:<14} {token.kind.value:<6} {token.app or '-':<16} {last_used:<20} "
            f"{state:<8} {token.description}"
        )


@token_cli.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="the token's id (token list)")],
) -> None:
    """Revoke an API token at once, and end its console sessions."""
    from pitmaster.services import tokens

    settings = load_settings()
    store = open_existing_store(settings)
    try:
        tokens.revoke_token(store, token_id)
    finally:
        store.close()
    typer.echo(f"revoked token {token_id}")
