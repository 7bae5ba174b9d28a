"""``apply -f`` with notification targets and rules, barbeque's ``slack_notification`` included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from pitmaster.app_secrets import new_key
from pitmaster.apply import apply, load
from pitmaster.cli import app as cli_app
from pitmaster.cli import notifications as notifications_cli
from pitmaster.cli import remote
from pitmaster.client import Client
from pitmaster.notifications import NotifyOn
from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from ..credentials import ADMIN

SLACK_URL = "https://hooks.slack.com/services/T0/B0/abcdefghijklmnopqrstuvwx"
FILE = """\
notification_targets:
  - name: ops
    kind: slack
    url: https://hooks.slack.com/services/T0/B0/abcdefghijklmnopqrstuvwx
  - name: pager
    kind: webhook
    url: https://alerts.example.com/in
    secret: whsec-0123456789abcdef
queues:
  - name: mailers
    notification_rules:
      - target: pager
        pending_minutes: 15
apps:
  - name: shop
    docker_image: shop:1
    notification_rules:
      - target: pager
    job_definitions:
      - job: Admin::NotifyJob
        command: [bundle, exec, rake, barbeque:execute]
        slack_notification:
          channel: "#ops"
          notify_success: true
          failure_notification_text: "<@U1>"
          notify_failure_only_if_retry_limit_reached: true
"""


@pytest.fixture
def api(settings: Settings, store: Store) -> Iterator[Client]:
    sealing = settings.model_copy(update={"secrets_key": SecretStr(new_key())})
    tokens.ensure_admin_tokens(sealing, store)
    with TestClient(
        create_app(sealing, store), raise_server_exceptions=False, headers=ADMIN
    ) as http:
        client = Client(str(http.base_url))
        client._http.close()
        client._http = http
        yield client


def test_given_a_file_with_targets_and_rules_when_applied_twice_then_the_second_changes_nothing(
    api: Client, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "pitmaster.yaml"
    path.write_text(FILE, encoding="utf-8")

    first: list[str] = []
    apply(api, load(path), first.append)
    second: list[str] = []
    apply(api, load(path), second.append)

    assert "created notification target ops" in first
    assert "set notification rules of job shop/Admin::NotifyJob (1)" in first
    assert all(line.startswith("unchanged") for line in second), second
    [rule] = store.notifications.job_rules("shop", "Admin::NotifyJob")
    assert rule.target == "ops" and rule.after_last_retry and rule.extra_text == "<@U1>"
    assert NotifyOn.SUCCESS in rule.endings
    assert [r.target for r in store.notifications.job_rules("shop", None)] == ["pager"]
    assert [r.pending_minutes for r in store.notifications.queue_rules("mailers")] == [15]


def test_given_notifications_commands_then_they_make_a_target_and_set_rules(
    api: Client, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.close = lambda: None  # type: ignore[method-assign]  # the command's ``with`` must not close it
    monkeypatch.setattr(remote, "connect", lambda url: api)
    monkeypatch.setattr(notifications_cli, "connect", lambda url: api)
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    runner = CliRunner()

    made = runner.invoke(
        cli_app,
        ["notifications", "target-create", "ops", "--kind", "slack", "--target-url", SLACK_URL],
    )
    assert made.exit_code == 0, made.output
    assert "abcdefghijklmnop" not in made.output
    rules = runner.invoke(
        cli_app,
        [
            "notifications",
            "rules-set",
            "shop",
            "mail",
            "--target",
            "ops",
            "--endings",
            "failed,oom",
            "--every-attempt",
        ],
    )
    assert rules.exit_code == 0, rules.output

    [rule] = store.notifications.job_rules("shop", "mail")
    assert rule.endings == {NotifyOn.FAILED, NotifyOn.OOM}
    assert not rule.after_last_retry
    listed = runner.invoke(cli_app, ["notifications", "targets"])
    assert "hooks.slack.com" in listed.output and "abcdefghijklmnop" not in listed.output
