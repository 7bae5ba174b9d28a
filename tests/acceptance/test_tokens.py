"""API tokens from the real ``pitmaster`` command, against a real ``pitmaster server``.

No job runs here (only the server is started), so these need no Docker engine.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pitmaster.settings import Settings

from ..credentials import ADMIN_TOKEN
from ..processes import Deployment

TOKEN = re.compile(r"^pm_[0-9a-f]{12}_[A-Za-z0-9_-]{40,}$")


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path)
    yield deployment
    deployment.stop_all()


def _serve(deployment: Deployment, **env: str) -> str:
    """Start ``pitmaster server``, wait for it, and return its log so far."""
    process = deployment.start("server", "--port", str(deployment.port), env=env)
    deployment.wait_healthy(process)
    return deployment.log(process)


def _stop_servers(deployment: Deployment) -> None:
    deployment.stop_all()
    deployment.processes.clear()


def test_given_an_admin_when_it_makes_an_app_token_then_that_token_works_for_its_app_only(
    deployment: Deployment,
) -> None:
    _serve(deployment)
    deployment.cli("apps", "create", "shop", "--image", "shop:1")
    deployment.cli("apps", "create", "blog", "--image", "blog:1")
    deployment.cli("jobs", "create", "shop", "greet", "--", "echo", "hi")
    deployment.cli("jobs", "create", "blog", "greet", "--", "echo", "hi")

    # When an app token is made, then it is printed alone on the last line of stdout
    made = deployment.cli("token", "create", "--app", "shop", "--description", "shop deploys")
    token = made.stdout.splitlines()[-1]
    assert TOKEN.match(token), made.stdout
    assert made.stdout == token + "\n"
    token_id = token.split("_")[1]
    assert f"made app token {token_id} for app shop" in made.stderr
    as_shop = {"PITMASTER_TOKEN": token}

    # Then it enqueues into shop and reads what it enqueued
    message_id = deployment.cli("enqueue", "shop", "greet", env=as_shop).stdout.strip()
    shown = deployment.cli("status", message_id, env=as_shop)
    assert "pending" in shown.stdout
    # But blog, and the admin's commands, are not its to use
    blog_id = deployment.cli("enqueue", "blog", "greet").stdout.strip()
    into_blog = deployment.cli("enqueue", "blog", "greet", env=as_shop, check=False)
    assert into_blog.returncode == 3
    assert "application 'blog' does not exist" in into_blog.stderr
    for args in (("status", blog_id), ("cancel", blog_id), ("retry", blog_id)):
        refused = deployment.cli(*args, env=as_shop, check=False)
        assert refused.returncode == 3 and "404" in refused.stderr, args
    listed = deployment.cli("list", env=as_shop).stdout
    assert message_id in listed and blog_id not in listed
    apps = deployment.cli("apps", "list", env=as_shop, check=False)
    assert apps.returncode == 1 and "403" in apps.stderr and "admin token" in apps.stderr

    # And the list shows it without its secret
    tokens = deployment.cli("token", "list").stdout
    assert re.search(rf"^{token_id}\s+app\s+shop\s+\S+.*active\s+shop deploys$", tokens, re.M)
    assert token.split("_", 2)[2] not in tokens

    # When the server restarts with the same PITMASTER_ADMIN_TOKEN, both tokens still work
    _stop_servers(deployment)
    _serve(deployment)
    deployment.cli("status", message_id, env=as_shop)
    deployment.cli("apps", "list")
    assert deployment.cli("token", "list").stdout.count(" admin ") == 1

    # When it is revoked, then it is refused once the server's trust in it has run out
    assert deployment.cli("token", "revoke", token_id).stdout == f"revoked token {token_id}\n"
    trusted_for = Settings.model_fields["token_cache_seconds"].default
    deadline = time.monotonic() + trusted_for + 10
    while (
        revoked := deployment.cli("status", message_id, env=as_shop, check=False)
    ).returncode == 0:
        assert time.monotonic() < deadline, "a revoked token is still accepted"
    assert revoked.returncode == 1
    assert "401" in revoked.stderr and "revoked" in revoked.stderr
    assert re.search(rf"^{token_id}\s.*revoked", deployment.cli("token", "list").stdout, re.M)


def test_given_no_token_then_the_cli_says_to_set_pitmaster_token(deployment: Deployment) -> None:
    _serve(deployment)

    missing = deployment.cli("list", env={"PITMASTER_TOKEN": ""}, check=False)
    wrong = deployment.cli("list", env={"PITMASTER_TOKEN": ADMIN_TOKEN + "x"}, check=False)

    assert missing.returncode == 1 and wrong.returncode == 1
    assert "401" in missing.stderr and "PITMASTER_TOKEN is not set" in missing.stderr
    assert "set PITMASTER_TOKEN" in wrong.stderr and "not valid" in wrong.stderr


def test_given_a_fresh_database_then_the_first_start_prints_an_admin_token_once(
    deployment: Deployment,
) -> None:
    deployment.env.pop("PITMASTER_ADMIN_TOKEN")

    first_log = _serve(deployment)

    lines = first_log.splitlines()
    at = next(i for i, line in enumerate(lines) if "first start" in line)
    token = next(line for line in lines[at:] if TOKEN.match(line))
    assert first_log.count(token) == 1
    deployment.cli("apps", "list", env={"PITMASTER_TOKEN": token})
    _stop_servers(deployment)

    second_log = _serve(deployment)

    assert "first start" not in second_log and not re.search(r"pm_[0-9a-f]{12}_", second_log)
    deployment.cli("apps", "list", env={"PITMASTER_TOKEN": token})


def test_given_auth_none_then_the_log_warns_and_no_token_is_needed(
    deployment: Deployment,
) -> None:
    deployment.env.pop("PITMASTER_ADMIN_TOKEN")

    log = _serve(deployment, PITMASTER_AUTH="none")

    assert re.search(r"WARNING .*AUTHENTICATION IS OFF", log), log
    deployment.cli("apps", "create", "shop", "--image", "shop:1", env={"PITMASTER_TOKEN": ""})


def test_given_a_short_admin_token_then_the_server_refuses_to_start_without_echoing_it(
    deployment: Deployment,
) -> None:
    result = deployment.cli(
        "server",
        "--port",
        str(deployment.port),
        env={"PITMASTER_ADMIN_TOKEN": "hunter2"},
        check=False,
    )

    assert result.returncode == 2
    assert "PITMASTER_ADMIN_TOKEN" in result.stderr and "at least 32" in result.stderr
    assert "hunter2" not in result.stderr


def test_given_no_database_when_a_token_is_made_or_listed_then_it_refuses_and_creates_none(
    deployment: Deployment,
) -> None:
    database = deployment.directory / "pitmaster.db"

    made = deployment.cli("token", "create", check=False)
    listed = deployment.cli("token", "list", check=False)

    for refused in (made, listed):
        assert refused.returncode == 3, refused.stderr
        assert f"no pitmaster database at sqlite:///{database}" in refused.stderr
        assert refused.stdout == "" and "alembic" not in refused.stderr
    assert not database.exists()

    # Once a server has made it, the same commands work, without migration chatter.
    _serve(deployment)
    listed = deployment.cli("token", "list")
    assert listed.stdout.startswith("ID ") and "alembic" not in listed.stderr
    made_json = json.loads(deployment.cli("token", "create", "--json").stdout)
    assert TOKEN.match(made_json["token"]) and made_json["kind"] == "admin"
    listed_json = json.loads(deployment.cli("token", "list", "--json").stdout)
    assert made_json["id"] in [token["id"] for token in listed_json]
