"""Secrets and container settings through the real ``pitmaster`` command, as an operator would."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from pitmaster.app_secrets import SecretBox
from pitmaster.store.store import Store

from ..containers import remove_labelled
from ..databases import ROOT, dump_all_rows
from ..processes import Deployment

pytestmark = pytest.mark.docker

TOKEN = "tok-from-stdin-9c2e41"
CERT = "-----BEGIN KEY-----\nline two\n-----END KEY-----\n"


@pytest.fixture
def deployment(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Deployment]:
    subprocess.run([ROOT / "scripts" / "build-demo-image.sh"], check=True)
    deployment = Deployment(tmp_path)
    yield deployment
    deployment.stop_all()
    store = Store(deployment.env["PITMASTER_DATABASE_URL"])
    label = f"pitmaster.installation={store.installation_id()}"
    store.close()
    remove_labelled(docker_client, label)


def test_given_a_key_when_an_operator_sets_secrets_then_the_job_reads_them_and_no_command_shows_them(
    deployment: Deployment,
) -> None:
    key = deployment.cli("secrets", "new-key").stdout.strip()
    assert len(key) == 44
    deployment.env["PITMASTER_SECRETS_KEY"] = key
    deployment.wait_healthy(deployment.start("up", "--port", str(deployment.port)))
    deployment.cli("apps", "create", "shop", "--image", "pitmaster-demo:latest")
    script = "cd /run/secrets && sha256sum TOKEN CERT | cut -c1-64"
    created = deployment.cli(
        "jobs", "create", "shop", "read", "--cpus", "0.5", "--pids-limit", "64",
        "--network", "none", "--json", "--", "sh", "-c", script,
    )  # fmt: skip
    definition = json.loads(created.stdout)
    assert (definition["cpus"], definition["pids_limit"], definition["network"]) == (
        0.5,
        64,
        "none",
    )

    from_stdin = deployment.cli("secrets", "set", "shop", "TOKEN", input=TOKEN)
    (deployment.directory / "cert.pem").write_text(CERT)
    from_file = deployment.cli(
        "secrets", "set", "shop", "CERT", "--value-file", str(deployment.directory / "cert.pem")
    )
    listed = deployment.cli("secrets", "list", "shop")
    message_id = deployment.cli("enqueue", "shop", "read").stdout.strip()
    waited = deployment.cli("status", "--wait", "--timeout", "60", message_id)
    logs = deployment.cli("logs", message_id)

    assert from_stdin.stdout == "set secret TOKEN of app shop\n"
    assert from_file.stdout == "set secret CERT of app shop\n"
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["NAME", "CERT", "TOKEN"]
    assert "success" in waited.stdout
    digests = [hashlib.sha256(value.encode()).hexdigest() for value in (TOKEN, CERT)]
    assert logs.stdout == "--- stdout ---\n" + "".join(f"{d}\n" for d in digests) + (
        "--- stderr ---\n"
    )
    for result in (from_stdin, from_file, listed, waited, logs):
        assert TOKEN not in result.stdout + result.stderr
        assert "line two" not in result.stdout + result.stderr
    server_log = "".join(path.read_text() for path in deployment.directory.glob("up-*.log"))
    assert TOKEN not in server_log and "line two" not in server_log
    dumped = dump_all_rows(deployment.env["PITMASTER_DATABASE_URL"])
    assert TOKEN not in dumped and "line two" not in dumped

    deleted = deployment.cli("secrets", "delete", "shop", "TOKEN")
    assert deleted.stdout == "deleted secret TOKEN of app shop\n"
    assert deployment.cli("secrets", "list", "shop").stdout.split()[2] == "CERT"
    missing = deployment.cli("secrets", "delete", "shop", "TOKEN", check=False)
    assert missing.returncode == 3 and "404" in missing.stderr


def test_given_no_key_when_an_operator_sets_a_secret_then_the_cli_says_how_to_set_one(
    deployment: Deployment,
) -> None:
    deployment.wait_healthy(deployment.start("up", "--port", str(deployment.port)))
    deployment.cli("apps", "create", "shop", "--image", "pitmaster-demo:latest")

    refused = deployment.cli("secrets", "set", "shop", "TOKEN", input=TOKEN, check=False)
    empty = deployment.cli("secrets", "set", "shop", "TOKEN", input="", check=False)

    assert refused.returncode == 1
    assert "503" in refused.stderr and "PITMASTER_SECRETS_KEY" in refused.stderr
    assert TOKEN not in refused.stderr
    assert empty.returncode == 2 and "empty" in empty.stderr
    assert deployment.cli("secrets", "list", "shop").stdout.splitlines()[1:] == []


def test_given_a_new_key_before_the_old_when_rotated_then_every_secret_opens_with_the_new_key_alone(
    deployment: Deployment,
) -> None:
    old = deployment.cli("secrets", "new-key").stdout.strip()
    new = deployment.cli("secrets", "new-key").stdout.strip()
    assert old != new
    deployment.env["PITMASTER_SECRETS_KEY"] = old
    server = deployment.start("server", "--port", str(deployment.port))
    deployment.wait_healthy(server)
    deployment.cli("apps", "create", "shop", "--image", "pitmaster-demo:latest")
    deployment.cli("secrets", "set", "shop", "TOKEN", input=TOKEN)

    deployment.env["PITMASTER_SECRETS_KEY"] = f"{new},{old}"
    rotated = deployment.cli("secrets", "rotate")

    assert rotated.stdout == "re-sealed 1 secrets\n"
    store = Store(deployment.env["PITMASTER_DATABASE_URL"])
    try:
        [sealed] = store.sealed_secrets()
    finally:
        store.close()
    assert SecretBox(new).open("shop", "TOKEN", sealed.ciphertext) == TOKEN
    deployment.env["PITMASTER_SECRETS_KEY"] = "not a key"
    bad = deployment.cli("secrets", "rotate", check=False)
    assert bad.returncode == 2 and "not a Fernet key" in bad.stderr
    assert "not a key" not in bad.stderr.replace("not a Fernet key", "")
