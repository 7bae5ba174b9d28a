"""Telling apart two engines that claim one identity: hosts cloned from one disk image.

The identity pitmaster keeps on an engine travels with the engine's data, so
a host cloned from another's disk claims the same identity. A worker that
started on such a clone would claim attempts for an engine that is not the
one other workers watch, and they would record its running jobs as lost.

So a starting worker that finds other live workers reporting its engine's
identity leaves a fresh *probe* on its engine (made now, so no clone can
carry it) and asks each of them, through the database, whether they see it
on theirs. Workers on the same engine see it; a worker on a clone does not.
One that does not see it means two engines share the identity, and the
starting worker refuses to start.
"""

from __future__ import annotations

import threading
import time
import uuid

from pitmaster.errors import PitmasterError
from pitmaster.executors.base import Executor
from pitmaster.models import PeerWorker
from pitmaster.store.store import Store

PROBE_POLL_SECONDS = 0.1


class EngineIdentityConflict(PitmasterError):
    """Another live worker reports this engine's identity but runs on another engine."""


def _remedy(engine: str) -> str:
    return (
        "this host's Docker data was probably cloned from another host's; on this host run "
        "'docker volume rm pitmaster-engine-identity' (with no pitmaster containers on it) "
        f"to give its engine an identity of its own, then start the worker again "
        f"(the shared identity is {engine})"
    )


def check_engine_identity(
    store: Store,
    executor: Executor,
    worker_id: str,
    alive_seconds: float,
    stopping: threading.Event,
    wait_seconds: float,
) -> None:
    """Raise EngineIdentityConflict if a live worker claims this engine's identity elsewhere.

    Other workers answer from their heartbeat loop (``answer_probes``), so
    this waits up to ``wait_seconds`` for their answers. A peer that has not
    answered by then and has not sent a heartbeat since it was asked is taken
    for a dead worker whose row has not expired yet (one killed just before
    this one started, say), and no longer counts.
    """
    engine = executor.engine_id()
    peers = {peer.id: peer for peer in store.live_peers(engine, worker_id, alive_seconds)}
    if not peers:
        return
    probe = uuid.uuid4().hex
    executor.make_probe(probe)
    try:
        store.ask_probe(probe, engine, worker_id, list(peers))
        deadline = time.monotonic() + wait_seconds
        while not stopping.is_set():
            answers = store.probe_answers(probe)
            elsewhere = [peers[w] for w, seen in answers.items() if seen is False and w in peers]
            if elsewhere:
                raise EngineIdentityConflict(_conflict_message(engine, elsewhere))
            waiting = [w for w, seen in answers.items() if seen is None and w in peers]
            if not waiting:
                return
            if time.monotonic() > deadline:
                now_seen = {
                    p.id: p.last_seen_at for p in store.live_peers(engine, worker_id, alive_seconds)
                }
                silent = sorted(
                    w for w in waiting if w in now_seen and now_seen[w] > peers[w].last_seen_at
                )
                if silent:
                    raise EngineIdentityConflict(
                        f"workers {', '.join(silent)} report this engine's identity and did "
                        f"not confirm within {wait_seconds:.0f} s that they run on this same "
                        "engine; " + _remedy(engine)
                    )
                return
            stopping.wait(PROBE_POLL_SECONDS)
    finally:
        executor.remove_probe(probe)
        store.forget_probe(probe)


def _conflict_message(engine: str, elsewhere: list[PeerWorker]) -> str:
    named = ", ".join(f"worker {peer.id} on host {peer.host}" for peer in elsewhere)
    return f"{named} reports this engine's identity but runs on another Docker engine; " + _remedy(
        engine
    )


def answer_probes(store: Store, executor: Executor, worker_id: str) -> None:
    """Tell each worker that asked whether its probe is on this worker's engine."""
    for probe in store.probes_for(worker_id):
        store.answer_probe(probe, worker_id, executor.has_probe(probe))
