"""The wheel and the sdist as users install them: in a fresh venv, away from any checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import pitmaster

from ..credentials import ADMIN_TOKEN
from ..databases import ROOT
from ..processes import free_port
from ..waiting import wait_for

# The image tests build a wheel too: one process does both, one after the other.
pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("image")]

PACKAGED_DATA = (
    "pitmaster/store/migrations/versions/0001_initial_schema.py",
    "pitmaster/store/migrations/env.py",
    "pitmaster/store/migrations/script.py.mako",
    "pitmaster/web/templates/base.html",
    "pitmaster/web/static/console.css",
    "pitmaster/py.typed",
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(directory), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return directory


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel and its locked dependencies; answers its bin directory."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (wheel,) = dist.glob("pitmaster-*.whl")
    subprocess.run(
        [venv / "bin" / "pip", "install", "--quiet", "-r", ROOT / "requirements.lock", wheel],
        check=True,
        capture_output=True,
    )
    return venv / "bin"


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment with nothing pointing into the checkout or its venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PITMASTER_", "PYTHON", "VIRTUAL_ENV"))
    }
    return {**env, **extra}


def test_given_the_sdist_when_listed_then_it_holds_the_migrations_templates_and_static_files(
    dist: Path,
):
    (sdist,) = dist.glob("pitmaster-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}

    assert {f"src/{path}" for path in PACKAGED_DATA} <= names
    assert sdist.name == f"pitmaster-{pitmaster.__version__}.tar.gz"


def test_given_the_wheel_in_a_fresh_venv_when_asked_its_version_then_it_answers_from_outside_a_checkout(
    installed: Path, tmp_path: Path
):
    result = subprocess.run(
        [installed / "pitmaster", "--version"],
        cwd=tmp_path,
        env=_clean_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    located = subprocess.run(
        [installed / "python", "-c", "import pitmaster; print(pitmaster.__file__)"],
        cwd=tmp_path,
        env=_clean_env(),
        check=True,
        capture_output=True,
        text=True,
    )

    assert result.stdout.strip() == pitmaster.__version__
    assert not located.stdout.startswith(str(ROOT))


@pytest.fixture
def running_up(installed: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = _clean_env(
        PITMASTER_DATABASE_URL=f"sqlite:///{tmp_path}/pitmaster.db",
        PITMASTER_PORT=str(port),
        PITMASTER_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    log = (tmp_path / "up.log").open("w")
    process = subprocess.Popen(
        [installed / "pitmaster", "up"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_given_the_wheel_in_a_fresh_venv_when_up_then_it_migrates_and_serves_the_console(
    running_up: str,
):
    def healthy() -> bool:
        try:
            return httpx.get(f"{running_up}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(healthy, timeout=90, interval=0.2, what="pitmaster up to answer /healthz")
    console = httpx.get(f"{running_up}/login", timeout=10)
    stylesheet = httpx.get(f"{running_up}/static/console.css", timeout=10)

    assert console.status_code == 200
    assert stylesheet.status_code == 200
