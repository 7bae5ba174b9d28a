"""Pausing and resuming queues and apps: nothing new starts from them meanwhile."""

from __future__ import annotations

import logging

from pitmaster.models import App, JobQueue
from pitmaster.services.executions import Wakeup
from pitmaster.store.store import Store

logger = logging.getLogger(__name__)


def pause_queue(store: Store, name: str, reason: str = "") -> JobQueue:
    """Start no more of the queue's work; running work goes on, enqueueing is still accepted."""
    return store.pause_queue(name, reason)


def resume_queue(store: Store, wakeup: Wakeup, name: str) -> JobQueue:
    queue = store.resume_queue(name)
    if wakeup is not None:
        wakeup()  # its work may start at once
    return queue


def pause_app(store: Store, name: str, reason: str = "") -> App:
    """Start no more of the app's work, in any queue."""
    return store.pause_app(name, reason)


def resume_app(store: Store, wakeup: Wakeup, name: str) -> App:
    app = store.resume_app(name)
    if wakeup is not None:
        wakeup()
    return app
