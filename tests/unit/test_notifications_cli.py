"""``pitmaster notifications``: tables, one-line confirmations and --json, against the real API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from pitmaster.app_secrets import new_key
from pitmaster.cli import app as cli_app
from pitmaster.cli import notifications as notifications_cli
from pitmaster.cli import remote
from pitmaster.cli.exits import ExitCode, of_error
from pitmaster.client import Client
from pitmaster.errors import PitmasterError
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from .conftest import serving


class _KeptOpen(Client):
    """A Client on the in-process API that the command's ``with`` does not close."""

    def close(self) -> None:
        pass


@pytest.fixture
def api(settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    with_key = settings.model_copy(update={"secrets_key": SecretStr(new_key())})
    with serving(with_key, store) as http:
        client = _KeptOpen(str(http.base_url))
        client._http.close()
        client._http = http
        monkeypatch.setattr(remote, "connect", lambda url: client)
        monkeypatch.setattr(notifications_cli, "connect", lambda url: client)
        yield client


def _run(*args: str, code: int = ExitCode.OK) -> str:
    result = CliRunner().invoke(cli_app, ["notifications", *args], env={"COLUMNS": "200"})
    assert result.exit_code == code, result.output
    return result.stdout


def test_given_notifications_commands_then_they_print_confirmations_and_aligned_tables(
    api: Client, store: Store
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["mail"])

    made = _run("target-create", "hooks", "--kind", "webhook", "--target-url", "https://x.test/in")
    listed = _run("targets").splitlines()
    rules_set = _run("rules-set", "shop", "mail", "--target", "hooks", "--endings", "failed")
    rules = _run("rules", "shop", "mail").splitlines()
    queue_set = _run("queue-rules-set", "default", "--target", "hooks", "--pending-minutes", "30")
    queue_rules = _run("queue-rules", "default").splitlines()
    sent = _run("test", "hooks")
    deliveries = _run("deliveries", "hooks").splitlines()

    assert made.startswith("created target hooks\nsigning secret (shown only this once): ")
    assert listed[0].split() == ["NAME", "KIND", "URL", "SIGNED", "DESCRIPTION"]
    assert listed[1].split()[:2] == ["hooks", "webhook"] and "yes" in listed[1].split()
    assert rules_set == "set 1 notification rule(s) of shop/mail: hooks\n"
    assert rules[0].split() == ["TARGET", "ENDINGS", "WHEN", "EXTRA_TEXT"]
    assert rules[1].startswith("hooks") and "after the last retry" in rules[1]
    assert queue_set == "set 1 notification rule(s) of queue default: hooks\n"
    assert "pending > 30 min" in queue_rules[1]
    delivery_id = sent.split()[3]
    assert sent == f"queued test notification {delivery_id} to target hooks\n"
    assert deliveries[0].split()[:3] == ["DELIVERY_ID", "EVENT", "STATE"]
    assert deliveries[1].split()[0] == delivery_id
    assert deliveries[0].index("EVENT") == deliveries[1].index(deliveries[1].split()[1])
    assert _run("rules-set", "shop", "mail") == "cleared the notification rules of shop/mail\n"
    assert _run("target-delete", "hooks") == "deleted target hooks\n"


def test_given_json_then_notifications_commands_print_the_answer_for_scripts(
    api: Client,
) -> None:
    made = json.loads(
        _run(
            "target-create",
            "ops",
            "--kind",
            "webhook",
            "--target-url",
            "https://x.test/a",
            "--json",
        )
    )
    shown = json.loads(_run("target-show", "ops", "--json"))
    listed = json.loads(_run("targets", "--json"))
    sent = json.loads(_run("test", "ops", "--json"))
    deliveries = json.loads(_run("deliveries", "ops", "--json"))
    updated = json.loads(_run("target-update", "ops", "--description", "on call", "--json"))

    assert made["name"] == "ops" and made["secret"]
    assert "secret" not in shown and shown["has_secret"] is True
    assert [target["name"] for target in listed] == ["ops"]
    assert [d["delivery_id"] for d in deliveries] == [sent["delivery_id"]]
    assert updated["description"] == "on call"


def test_given_an_unknown_target_then_the_command_exits_not_found(api: Client) -> None:
    for command in ("target-show", "deliveries", "test"):
        # main() turns what the command raised into the exit code; the runner skips main().
        result = CliRunner().invoke(cli_app, ["notifications", command, "nobody"])
        assert isinstance(result.exception, PitmasterError), result.output
        assert of_error(result.exception) == ExitCode.NOT_FOUND, command
