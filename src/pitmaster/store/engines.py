"""Engines in SQL: when a worker last reached each one, probes between workers, silent engines.

An attempt belongs to the engine it was claimed for (``attempts.engine_id``
holds that engine's identity). Only a worker on that engine may take it over
or observe it; when no worker has reached the engine for long enough, the
attempt ends in error here instead of waiting for ever.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

import sqlalchemy as sa

from pitmaster.models import AttemptState, Outcome, PeerWorker, Status, Stranded
from pitmaster.store import lifecycle, wakeups
from pitmaster.store.database import Database
from pitmaster.store.schema import attempts, engine_probes, engines, job_executions, workers

_STALE_PROBE_AGE = timedelta(hours=1)


def engine_reached(conn: sa.Connection, now: datetime, engine: str, description: str) -> None:
    """Note that a worker reached ``engine`` just now."""
    updated = conn.execute(
        engines.update()
        .where(engines.c.id == engine)
        .values(last_seen_at=now, description=description)
    ).rowcount
    if updated == 0:
        conn.execute(
            engines.insert().values(
                id=engine, description=description, first_seen_at=now, last_seen_at=now
            )
        )


def live_peers(
    conn: sa.Connection, now: datetime, engine: str, worker_id: str, alive_seconds: float
) -> list[PeerWorker]:
    """The other workers seen within ``alive_seconds`` that report ``engine``."""
    w = workers.c
    rows = conn.execute(
        sa.select(w.id, w.host, w.started_at, w.last_seen_at).where(
            w.engine == engine,
            w.id != worker_id,
            w.last_seen_at >= now - timedelta(seconds=alive_seconds),
        )
    ).all()
    return [PeerWorker(row.id, row.host, row.started_at, row.last_seen_at) for row in rows]


def ask_probe(
    conn: sa.Connection,
    now: datetime,
    probe: str,
    engine: str,
    asked_by: str,
    peers: Collection[str],
) -> None:
    conn.execute(engine_probes.delete().where(engine_probes.c.asked_at < now - _STALE_PROBE_AGE))
    for peer in peers:
        conn.execute(
            engine_probes.insert().values(
                probe=probe, worker_id=peer, engine=engine, asked_by=asked_by, asked_at=now
            )
        )


def probe_answers(conn: sa.Connection, probe: str) -> dict[str, bool | None]:
    """Each asked worker's answer: True (it sees the probe), False, or None (not yet)."""
    p = engine_probes.c
    rows = conn.execute(sa.select(p.worker_id, p.seen).where(p.probe == probe)).all()
    return {row.worker_id: row.seen for row in rows}


def probes_for(conn: sa.Connection, worker_id: str) -> list[str]:
    """The probes this worker has been asked about and has not answered."""
    p = engine_probes.c
    return list(
        conn.execute(sa.select(p.probe).where(p.worker_id == worker_id, p.seen.is_(None))).scalars()
    )


def answer_probe(conn: sa.Connection, probe: str, worker_id: str, seen: bool) -> None:
    p = engine_probes.c
    conn.execute(
        engine_probes.update().where(p.probe == probe, p.worker_id == worker_id).values(seen=seen)
    )


def forget_probe(conn: sa.Connection, probe: str) -> None:
    conn.execute(engine_probes.delete().where(engine_probes.c.probe == probe))


def stranded_attempts(conn: sa.Connection, now: datetime, silent_seconds: float) -> list[Stranded]:
    """Attempts starting or running on an engine no worker has reached for ``silent_seconds``.

    An engine never seen (attempts from before engines were recorded) counts
    from the attempt's last change. A claim whose lease still runs is left to
    the runner that holds it.
    """
    a, e = attempts.c, job_executions.c
    last_seen = sa.func.coalesce(engines.c.last_seen_at, a.updated_at)
    rows = conn.execute(
        sa.select(a.id, a.engine_id, e.message_id, last_seen.label("silent_since"))
        .join(job_executions, e.id == a.execution_id)
        .outerjoin(engines, engines.c.id == a.engine_id)
        .where(
            a.state.in_([AttemptState.STARTING.value, AttemptState.RUNNING.value]),
            a.engine_id.is_not(None),
            last_seen < now - timedelta(seconds=silent_seconds),
            sa.or_(e.lease_expires_at.is_(None), e.lease_expires_at < now),
        )
    ).all()
    return [Stranded(row.id, row.message_id, row.engine_id, row.silent_since) for row in rows]


def end_stranded(conn: sa.Connection, now: datetime, stranded: Stranded) -> bool:
    """End a stranded attempt in error, once (its retry policy applies)."""
    minutes = (now - stranded.silent_since).total_seconds() / 60
    reason = f"engine {stranded.engine} unreachable: no worker reached it for {minutes:.0f} min"
    return lifecycle.record_outcome(conn, now, stranded.attempt_id, Outcome(Status.ERROR, reason))


def left_behind(
    conn: sa.Connection, now: datetime, attempt_ids: Collection[int], settled_seconds: float
) -> set[int]:
    """Of these attempts, the ones whose container nobody needs any more.

    Ended more than ``settled_seconds`` ago, with their output stored (or
    never to be): a container of theirs was left behind, e.g. by an engine
    that came back after its attempt was ended for its silence. A container
    whose attempt ended just now is the recording worker's to remove, so it
    is left to that worker. Ids of no attempt at all count too.
    """
    wanted = set(attempt_ids)
    if not wanted:
        return set()
    a = attempts.c
    settled = sa.func.coalesce(a.output_recorded_at, a.recorded_at) < now - timedelta(
        seconds=settled_seconds
    )
    needed = set(
        conn.execute(
            sa.select(a.id).where(
                a.id.in_(wanted),
                sa.or_(
                    a.state != AttemptState.ENDED.value,
                    a.output_pending.is_(True),
                    sa.not_(sa.func.coalesce(settled, False)),
                ),
            )
        ).scalars()
    )
    return wanted - needed


class Engines:
    """The queries about engines: peers sharing an identity, probes, stranded attempts."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def live_peers(self, engine: str, worker_id: str, alive_seconds: float) -> list[PeerWorker]:
        """The other live workers that report the same engine identity."""
        with self._db.reading() as conn:
            return live_peers(conn, self._db.now(), engine, worker_id, alive_seconds)

    def ask_probe(self, probe: str, engine: str, asked_by: str, peers: Collection[str]) -> None:
        with self._db.writing() as conn:
            ask_probe(conn, self._db.now(), probe, engine, asked_by, peers)

    def probe_answers(self, probe: str) -> dict[str, bool | None]:
        with self._db.reading() as conn:
            return probe_answers(conn, probe)

    def probes_for(self, worker_id: str) -> list[str]:
        with self._db.reading() as conn:
            return probes_for(conn, worker_id)

    def answer_probe(self, probe: str, worker_id: str, seen: bool) -> None:
        with self._db.writing() as conn:
            answer_probe(conn, probe, worker_id, seen)

    def forget_probe(self, probe: str) -> None:
        with self._db.writing() as conn:
            forget_probe(conn, probe)

    def end_stranded_attempts(self, silent_seconds: float) -> list[Stranded]:
        """End in error the attempts on engines no worker reached for ``silent_seconds``."""
        now = self._db.now()
        with self._db.reading() as conn:
            candidates = stranded_attempts(conn, now, silent_seconds)
        ended = []
        for stranded in candidates:
            with self._db.writing() as conn:
                if end_stranded(conn, now, stranded):
                    wakeups.notify_work(conn)
                    ended.append(stranded)
        return ended

    def left_behind(self, attempt_ids: Collection[int], settled_seconds: float = 60) -> set[int]:
        """Of these attempts, those whose containers nobody needs any more."""
        with self._db.reading() as conn:
            return left_behind(conn, self._db.now(), attempt_ids, settled_seconds)
