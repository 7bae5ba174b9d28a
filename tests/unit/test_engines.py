"""Workers on several Docker engines share one database; each observes only its own engine."""

from __future__ import annotations

from pitmaster.models import DEFAULT_QUEUE, Status
from pitmaster.store.store import Store
from pitmaster.testing import FakeExecutor
from pitmaster.worker.poller import Poller
from pitmaster.worker.runner import Runner


def test_given_a_job_on_engine_a_when_engine_bs_poller_sweeps_then_it_is_left_alone(
    store: Store,
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["send"])
    engine_a, engine_b = FakeExecutor(engine="engine-a"), FakeExecutor(engine="engine-b")
    execution = store.enqueue("shop", "mail", DEFAULT_QUEUE, {})
    assert Runner(store, engine_a, "worker-a", 60).run_once()

    # When the poller of another engine, which cannot see the container, sweeps,
    recorded_by_b = Poller(store, engine_b, 1024).sweep()

    # then it records nothing (no false "lost"), and engine A's poller records the ending.
    assert recorded_by_b == 0
    assert engine_b.calls.observe == 0
    assert store.get_execution(execution.message_id).status is Status.RUNNING
    [attempt] = store.attempts_of(execution.id)
    assert attempt.docker_host == "engine-a"
    engine_a.finish(next(iter(engine_a.containers)), exit_code=0)
    assert Poller(store, engine_a, 1024).sweep() == 1
    assert store.get_execution(execution.message_id).status is Status.SUCCESS
