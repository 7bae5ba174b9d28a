"""``pitmaster topics`` and ``apply -f`` with topics, against the real API served in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pitmaster.apply import apply, load
from pitmaster.cli import app as cli_app
from pitmaster.cli import remote
from pitmaster.cli import topics as topics_cli
from pitmaster.client import Client
from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from ..credentials import ADMIN

TOPICS = """\
apps:
  - name: shop
    docker_image: shop:1
    job_definitions:
      - job: mail
        command: [mail]
      - job: bill
        command: [bill]
topics:
  - name: orders
    description: every order
    publishers: [shop]
    subscriptions:
      - application: shop
        job: mail
      - application: shop
        job: bill
        filter: {kind: [paid, refunded]}
"""


class _KeptOpen(Client):
    """A Client on the in-process API that the command's ``with`` does not close."""

    def close(self) -> None:
        pass


@pytest.fixture
def api(settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    tokens.ensure_admin_tokens(settings, store)
    with TestClient(create_app(settings, store), headers=ADMIN) as http:
        client = _KeptOpen(str(http.base_url))
        client._http.close()
        client._http = http
        monkeypatch.setattr(remote, "connect", lambda url: client)
        monkeypatch.setattr(topics_cli, "connect", lambda url: client)
        yield client


def _apply(api: Client, tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "pitmaster.yaml"
    path.write_text(text, encoding="utf-8")
    lines: list[str] = []
    apply(api, load(path), lines.append)
    return lines


def test_given_a_file_with_a_topic_when_applied_twice_then_made_once_and_then_unchanged(
    api: Client, tmp_path: Path
) -> None:
    first = _apply(api, tmp_path, TOPICS)
    second = _apply(api, tmp_path, TOPICS)
    changed = _apply(api, tmp_path, TOPICS.replace("[paid, refunded]", "[paid]"))

    assert first[-3:] == [
        "created topic orders",
        "created subscription orders -> shop/mail on default",
        "created subscription orders -> shop/bill on default",
    ]
    assert all(line.startswith("unchanged") for line in second), second
    assert changed[-1] == "updated subscription orders -> shop/bill on default (filter)"
    subscriptions = api.get("/v1/topics/orders/subscriptions")
    assert [(s["job"], s["filter"]) for s in subscriptions] == [
        ("mail", None),
        ("bill", {"kind": ["paid"]}),
    ]
    assert api.get("/v1/topics/orders")["publishers"] == ["shop"]


def test_given_topics_commands_then_they_manage_topics_and_publish(
    api: Client, store: Store
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["mail"])
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli_app, ["topics", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    run("create", "orders", "--publisher", "shop")
    run("subscribe", "orders", "shop", "mail", "--filter", '{"kind": "paid"}')
    shown = json.loads(run("show", "orders", "--json"))
    published = run("publish", "orders", "--message", '{"kind": "paid"}').split()
    skipped = run("publish", "orders", "--message", '{"kind": "free"}').split()

    assert shown["publishers"] == ["shop"]
    assert shown["subscriptions"][0]["filter"] == {"kind": "paid"}
    assert len(published) == 1 and store.get_execution(published[0]).job == "mail"
    assert skipped == []
    run("unsubscribe", "orders", str(shown["subscriptions"][0]["id"]))
    run("delete", "orders")
    assert store.list_topics(10) == []
