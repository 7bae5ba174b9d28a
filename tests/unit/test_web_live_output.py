"""The execution page shows a running job's output as it comes, when the server can read it."""

from __future__ import annotations

from pitmaster.models import DEFAULT_QUEUE
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.testing import FakeExecutor
from pitmaster.worker.runner import Runner

from .conftest import log_in, serving


def _running(store: Store, executor: FakeExecutor) -> str:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["send"])
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, None)
    assert Runner(store, executor, "w", 60).run_once()
    container = next(iter(executor.containers.values()))
    container.stdout, container.stderr = "sent 1 of 3\n", "slow server\n"
    return execution.message_id


def test_given_a_running_job_on_the_servers_engine_then_its_output_so_far_is_live(
    store: Store, settings: Settings
) -> None:
    executor = FakeExecutor()
    message_id = _running(store, executor)
    with serving(settings, store, log_reader=executor) as client:
        log_in(client)
        live = client.get(f"/job_executions/{message_id}/live.json").json()
        page = client.get(f"/job_executions/{message_id}").text

    assert (live["status"], live["stdout"], live["stderr"]) == (
        "running",
        "sent 1 of 3\n",
        "slow server\n",
    )
    assert live["output_note"].startswith("(live")
    assert "sent 1 of 3" in page


def test_given_a_running_job_on_another_engine_then_output_waits_for_the_end(
    store: Store, settings: Settings
) -> None:
    executor = FakeExecutor()
    message_id = _running(store, executor)
    elsewhere = FakeExecutor(engine="another-engine")
    with serving(settings, store, log_reader=elsewhere) as client:
        log_in(client)
        live = client.get(f"/job_executions/{message_id}/live.json").json()

    assert live["stdout"] == "" and elsewhere.calls.logs == 0
    assert live["output_note"].startswith("(shown when the attempt ends")
