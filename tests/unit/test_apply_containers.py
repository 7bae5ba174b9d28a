"""``pitmaster apply`` carries a job definition's container fields: cpus, pids_limit, network."""

from __future__ import annotations

from pathlib import Path

from pitmaster.apply import apply, load
from pitmaster.client import Client
from pitmaster.store.store import Store

from .test_apply import api

__all__ = ["api"]

CONTAINED = """\
apps:
  - name: shop
    docker_image: shop:1
    job_definitions:
      - job: mail
        command: [ruby, mail.rb]
        cpus: 0.25
        pids_limit: 128
        network: none
"""


def _apply(api: Client, tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "pitmaster.yaml"
    path.write_text(text, encoding="utf-8")
    lines: list[str] = []
    apply(api, load(path), lines.append)
    return lines


def test_given_container_fields_when_applied_then_stored_and_changes_patch_only_them(
    api: Client, store: Store, tmp_path: Path
) -> None:
    assert "created job definition shop/mail" in _apply(api, tmp_path, CONTAINED)
    definition = store.get_job_definition("shop", "mail")
    assert (definition.cpus, definition.pids_limit, definition.network) == (0.25, 128, "none")
    assert "unchanged job definition shop/mail" in _apply(api, tmp_path, CONTAINED)

    changed = CONTAINED.replace("network: none", "network: jobs-internal").replace(
        "        cpus: 0.25\n", ""
    )
    lines = _apply(api, tmp_path, changed)

    assert "updated job definition shop/mail (cpus, network)" in lines
    definition = store.get_job_definition("shop", "mail")
    assert (definition.cpus, definition.pids_limit, definition.network) == (
        None,
        128,
        "jobs-internal",
    )
