"""Waking idle workers when work may have become runnable: PostgreSQL's LISTEN/NOTIFY."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
import sqlalchemy as sa

logger = logging.getLogger(__name__)

WORK_CHANNEL = "pitmaster_work"


def notify_work(conn: sa.Connection) -> None:
    """Tell listening workers (PostgreSQL) that work may be runnable, once this commits."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_notify(WORK_CHANNEL, "")))


def listen(conninfo: str, wake: Callable[[], None], stopping: threading.Event) -> None:
    """Call ``wake`` on every notification until ``stopping`` is set; reconnect on errors."""
    while not stopping.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f"LISTEN {WORK_CHANNEL}")
                wake()  # anything enqueued while we were not listening
                while not stopping.is_set():
                    for _ in conn.notifies(timeout=1.0, stop_after=1):
                        wake()
        except psycopg.Error as exc:
            logger.warning("listening for work failed: %s; retrying", exc)
            stopping.wait(2.0)
