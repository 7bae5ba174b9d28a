"""An execution's output so far (``/output``), what ``pitmaster logs --follow`` reads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from pitmaster.executors.base import Logs
from pitmaster.models import Outcome, Status
from pitmaster.services import tokens
from pitmaster.services.live_output import LiveOutput, output_so_far
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from .conftest import serving


class _Engine:
    """A log reader of the engine ``engine``, where every job has printed ``so far``."""

    def engine_id(self) -> str:
        return "engine"

    def recent_logs(self, handle: str, limit: int) -> Logs:
        return Logs(stdout=f"so far from {handle}\n", stderr="")


def _start(store: Store) -> int:
    claim = store.claim("w", 60)
    assert claim is not None
    store.mark_running(claim.attempt_id, f"c{claim.attempt_id}", "engine", datetime.now(UTC))
    return claim.attempt_id


def _end(store: Store, attempt_id: int, status: Status, stdout: str) -> None:
    now = datetime.now(UTC)
    outcome = Outcome(status, "exited", 0 if status is Status.SUCCESS else 1, now, stdout, "")
    assert store.record_outcome(attempt_id, outcome)


def _shop(store: Store) -> str:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    return store.enqueue("shop", "mail", "default", {}).message_id


def test_given_a_retried_execution_when_its_output_is_read_then_the_last_stored_and_ended(
    client: TestClient, store: Store
) -> None:
    message_id = _shop(store)
    _end(store, _start(store), Status.FAILED, "first\n")
    store.retry(message_id)
    _end(store, _start(store), Status.SUCCESS, "second\n")

    body = client.get(f"/v1/job_executions/{message_id}/output").json()

    assert body == {
        "message_id": message_id,
        "status": "success",
        "ended": True,
        "attempt": 1,
        "live": False,
        "stdout": "second\n",
        "stderr": "",
    }


def test_given_a_waiting_execution_when_its_output_is_read_then_none_yet_and_not_ended(
    client: TestClient, store: Store
) -> None:
    message_id = _shop(store)

    body = client.get(f"/v1/job_executions/{message_id}/output").json()

    assert (body["ended"], body["attempt"], body["stdout"]) == (False, None, "")


def test_given_a_running_attempt_on_a_readable_engine_then_its_live_output_is_given(
    store: Store,
) -> None:
    message_id = _shop(store)
    _start(store)
    live = LiveOutput(_Engine(), threading.BoundedSemaphore(1), limit_bytes=1024)

    output = output_so_far(live, store.attempts_of(store.get_execution(message_id).id))

    assert (output.attempt, output.live) == (0, True)
    assert output.stdout.startswith("so far from c")


def test_given_another_apps_token_when_it_reads_the_output_then_not_found(
    settings: Settings, store: Store
) -> None:
    message_id = _shop(store)
    store.create_app("billing", "billing:1")
    billing = tokens.create_token(store, "billing", "deploys")[1]

    with serving(settings, store, token=billing) as other:
        assert other.get(f"/v1/job_executions/{message_id}/output").status_code == 404
