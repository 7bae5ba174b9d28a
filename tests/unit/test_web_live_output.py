"""The execution page shows a running job's output as it comes, when the server can read it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from pitmaster.executors.base import Logs
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


class _SlowReader(FakeExecutor):
    """A reader whose live reads wait until released, as Docker does for a large log."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = threading.Event()
        self.release = threading.Event()

    def recent_logs(self, handle: str, limit: int) -> Logs:
        self.reading.set()
        assert self.release.wait(30)
        return super().recent_logs(handle, limit)


def test_given_every_live_reader_busy_then_live_json_answers_429_with_retry_after(
    store: Store, settings: Settings
) -> None:
    # Given a server with one live output reader, busy with a poll that takes long.
    executor = _SlowReader()
    message_id = _running(store, executor)
    one_reader = settings.model_copy(update={"live_output_readers": 1})
    with serving(one_reader, store, log_reader=executor) as client:
        log_in(client)
        url = f"/job_executions/{message_id}/live.json"
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(client.get, url)
            assert executor.reading.wait(30)

            # When another poll comes: it is refused at once, with when to come back.
            refused = client.get(url)
            assert refused.status_code == 429
            assert refused.headers["Retry-After"] == "2"
            assert "error" in refused.json()

            # And once the first is done, a poll is served again.
            executor.release.set()
            assert first.result().status_code == 200
        assert client.get(url).json()["stdout"] == "sent 1 of 3\n"


def test_given_a_long_output_then_a_live_poll_returns_only_its_end(
    store: Store, settings: Settings
) -> None:
    # Given a running job that printed far more than one poll shows.
    executor = FakeExecutor()
    message_id = _running(store, executor)
    container = next(iter(executor.containers.values()))
    container.stdout = "".join(f"line {n}\n" for n in range(100_000))
    small = settings.model_copy(update={"live_output_bytes": 1024})
    with serving(small, store, log_reader=executor) as client:
        log_in(client)
        live = client.get(f"/job_executions/{message_id}/live.json").json()

    # Then the poll shows its last KiB.
    assert live["stdout"].endswith("line 99999\n")
    assert len(live["stdout"]) <= 1024
