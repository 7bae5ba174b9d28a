"""``pitmaster apply`` takes barbeque's job definitions: ActiveJob names and message_delivery."""

from __future__ import annotations

from pathlib import Path

from pitmaster.apply import apply, load
from pitmaster.client import Client
from pitmaster.models import MessageDelivery
from pitmaster.store.store import Store

from .test_apply import api

__all__ = ["api"]

FROM_BARBEQUE = """\
apps:
  - name: blog
    docker_image: blog:latest
    job_definitions:
      - job: Admin::NotifyJob
        command: [bundle, exec, rake, barbeque:execute]
        message_delivery: env
      - job: "Reports::Weekly #2"
        command: [bundle, exec, rake, barbeque:execute]
"""


def _apply(api: Client, tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "pitmaster.yaml"
    path.write_text(text, encoding="utf-8")
    lines: list[str] = []
    apply(api, load(path), lines.append)
    return lines


def test_given_activejob_names_and_a_delivery_when_applied_twice_then_stored_once_and_unchanged(
    api: Client, store: Store, tmp_path: Path
) -> None:
    created = _apply(api, tmp_path, FROM_BARBEQUE)

    assert "created job definition blog/Admin::NotifyJob" in created
    assert "created job definition blog/Reports::Weekly #2" in created
    notify = store.get_job_definition("blog", "Admin::NotifyJob")
    weekly = store.get_job_definition("blog", "Reports::Weekly #2")
    assert notify.message_delivery is MessageDelivery.ENV
    assert weekly.message_delivery is MessageDelivery.AUTO

    again = _apply(api, tmp_path, FROM_BARBEQUE)
    assert "unchanged job definition blog/Admin::NotifyJob" in again
    assert "unchanged job definition blog/Reports::Weekly #2" in again

    changed = _apply(api, tmp_path, FROM_BARBEQUE.replace("delivery: env", "delivery: file"))
    assert "updated job definition blog/Admin::NotifyJob (message_delivery)" in changed
    assert store.get_job_definition("blog", "Admin::NotifyJob").message_delivery == "file"
