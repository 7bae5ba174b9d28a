"""What console pages show: commands, errors inside the layout, an execution's facts, queues."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from .conftest import log_in

# Quoting a shell needs: a ; that would end the command, a redirection, a quote, an empty argument.
ARGV = ["sh", "-c", "echo nope >&2; exit 4", "it's", ""]
SHELL_QUOTED = str(escape("""sh -c 'echo nope >&2; exit 4' 'it'"'"'s' ''"""))


@pytest.fixture
def console(settings: Settings, store: Store) -> Iterator[TestClient]:
    """The console, logged in as admin."""
    tokens.ensure_admin_tokens(settings, store)
    with TestClient(create_app(settings, store), raise_server_exceptions=True) as client:
        log_in(client)
        yield client


@pytest.mark.parametrize("page", ["/job_definitions", "/apps/shop", "/job_definitions/shop/fail"])
def test_given_a_command_with_shell_syntax_when_a_page_lists_it_then_it_is_shell_quoted(
    console: TestClient, store: Store, page: str
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "fail", ARGV)
    html = console.get(page).text
    assert SHELL_QUOTED in html
    assert "\\u003e" not in html
    assert "echo nope &gt;&amp;2; exit 4 it" not in html
