"""Workers as their heartbeats show them: alive or not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pitmaster.models import MAX_PAGE_SIZE, WorkerInfo
from pitmaster.settings import Settings
from pitmaster.store.store import Store


def is_alive(worker: WorkerInfo, now: datetime, settings: Settings) -> bool:
    """Alive: its last heartbeat is at most ``worker_alive_seconds`` old."""
    return now - worker.last_seen_at <= timedelta(seconds=settings.worker_alive_seconds)


@dataclass(frozen=True)
class WorkerView:
    worker: WorkerInfo
    alive: bool
    seen_at: datetime  # the time its age is told from


def list_workers(
    store: Store, settings: Settings, limit: int = MAX_PAGE_SIZE, after: str | None = None
) -> list[WorkerView]:
    """Workers by id, each with whether it is alive, as of the database's clock."""
    now = store.now()
    return [
        WorkerView(worker=worker, alive=is_alive(worker, now, settings), seen_at=now)
        for worker in store.list_workers(limit, after)
    ]
