"""The version is written in one place, and the command says it."""

from __future__ import annotations

import tomllib

from typer.testing import CliRunner

import pitmaster
from pitmaster.cli import app

from ..databases import ROOT


def test_given_the_command_when_asked_for_its_version_then_it_prints_the_packages():
    result = CliRunner().invoke(app, ["--version"])

    assert result.exit_code == 0
    assert result.output == f"{pitmaster.__version__}\n"


def test_given_pyproject_when_read_then_the_version_comes_from_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())

    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pitmaster.__version__"}
