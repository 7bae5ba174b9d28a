"""``pitmaster schedules`` and ``apply -f`` with schedules, against the real API in-process."""

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
from pitmaster.cli import schedules as schedules_cli
from pitmaster.client import Client
from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from ..credentials import ADMIN

FILE = """\
apps:
  - name: shop
    docker_image: shop:1
    job_definitions:
      - job: report
        command: [report]
schedules:
  - name: nightly
    application: shop
    job: report
    cron: "30 2 * * *"
    timezone: Europe/Berlin
    message: {kind: nightly}
    missed_ticks: all
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
        monkeypatch.setattr(schedules_cli, "connect", lambda url: client)
        yield client


def _apply(api: Client, tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "pitmaster.yaml"
    path.write_text(text, encoding="utf-8")
    lines: list[str] = []
    apply(api, load(path), lines.append)
    return lines


def test_given_a_file_with_a_schedule_when_applied_twice_then_made_once_and_then_unchanged(
    api: Client, tmp_path: Path
) -> None:
    first = _apply(api, tmp_path, FILE)
    api.request("POST", "/v1/schedules/nightly/pause")
    second = _apply(api, tmp_path, FILE)
    changed = _apply(api, tmp_path, FILE.replace('"30 2 * * *"', "'@hourly'"))

    assert first[-1] == "created schedule nightly"
    assert all(line.startswith("unchanged") for line in second), second
    assert changed[-1] == "updated schedule nightly (cron)"
    schedule = api.get("/v1/schedules/nightly")
    assert schedule["cron"] == "@hourly" and schedule["missed_ticks"] == "all"
    assert schedule["paused"] is True  # applying leaves a pause alone


def test_given_schedules_commands_then_they_manage_and_run_a_schedule(
    api: Client, store: Store
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "report", ["report"])
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli_app, ["schedules", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    run("create", "nightly", "shop", "report", "0 3 * * *", "--tz", "Europe/Berlin", "-m", "{}")
    shown = json.loads(run("show", "nightly", "--json"))
    paused = json.loads(run("pause", "nightly", "--json"))
    message_id = run("run", "nightly").strip()
    listed = json.loads(run("executions", "nightly", "--json"))
    updated = json.loads(run("update", "nightly", "--missed-ticks", "skip", "--json"))

    assert len(shown["next_runs"]) == 5 and shown["timezone"] == "Europe/Berlin"
    assert paused["paused"] is True
    assert [e["message_id"] for e in listed] == [message_id]
    assert updated["missed_ticks"] == "skip"
    assert json.loads(run("resume", "nightly", "--json"))["paused"] is False
    run("delete", "nightly")
    assert store.list_schedules(10) == []


def test_given_schedules_commands_without_json_then_tables_and_one_line_confirmations(
    api: Client, store: Store
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "report", ["report"])
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli_app, ["schedules", *args], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        return result.stdout

    created = run("create", "nightly", "shop", "report", "0 3 * * *", "--tz", "Europe/Berlin")
    listed = run("list").splitlines()
    shown = run("show", "nightly")
    paused = run("pause", "nightly")
    message_id = run("run", "nightly").strip()
    executions = run("executions", "nightly").splitlines()

    assert created.startswith("created schedule nightly, next tick ")
    assert listed[0].split()[:4] == ["NAME", "JOB", "QUEUE", "CRON"]
    assert listed[1].split()[:3] == ["nightly", "shop/report", "default"]
    assert "cron            0 3 * * *\n" in shown and "timezone        Europe/Berlin\n" in shown
    assert paused == "paused schedule nightly\n"
    assert executions[0].split()[:2] == ["MESSAGE_ID", "STATUS"]
    assert executions[1].split()[0] == message_id
    assert run("resume", "nightly").startswith("resumed schedule nightly, next tick ")
    assert run("update", "nightly", "--cron", "@hourly") == "updated schedule nightly\n"
    assert run("delete", "nightly") == "deleted schedule nightly\n"
