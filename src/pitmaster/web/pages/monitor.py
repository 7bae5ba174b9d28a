"""Queues and the monitor: the backlog, why it waits, enqueues per hour, workers."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from pitmaster.http_common.deps import Services, ServicesDep
from pitmaster.services import executions, workers
from pitmaster.web import monitoring, views
from pitmaster.web.pages import common
from pitmaster.web.pages.common import (
    admin_router,
    next_page,
    render,
)

logger = logging.getLogger(__name__)

# The monitor's tables read at most this many of the last day's executions, newest first.
RECENT_SAMPLE = 5_000
REFRESH_SECONDS = 30


def _queue_rows(services: Services, after: str | None = None) -> list[dict[str, Any]]:
    settings, store = services.settings, services.store
    now = store.now()
    rows = []
    for summary in store.stats.queue_summaries(common.NAMES_PAGE_SIZE, after):
        reason = None
        if summary.oldest_pending is not None:
            reason = executions.explain_pending(
                store, settings, summary.oldest_pending, name_workers=True
            )
        rows.append(
            {
                "summary": summary,
                "oldest_age": views.age(summary.oldest_ready_at, now),
                "pending_reason": views.waiting_text(summary.oldest_pending, reason),
            }
        )
    return rows


@admin_router.get("/job_queues", response_class=HTMLResponse)
def queues_index(request: Request, services: ServicesDep, after: str = "") -> HTMLResponse:
    rows = _queue_rows(services, after or None)
    next_url = next_page("/job_queues", rows, rows[-1]["summary"].queue.name) if rows else None
    return render(
        request,
        "queues.html",
        rows=rows,
        next_url=next_url,
        global_limit=services.settings.max_concurrent_executions,
    )


@admin_router.get("/monitors", response_class=HTMLResponse)
def monitor(request: Request, services: ServicesDep) -> HTMLResponse:
    store = services.store
    now = store.now()
    day = views.window(now, 23).replace(minute=0, second=0, microsecond=0)
    six = views.window(now, 5).replace(minute=0, second=0, microsecond=0)
    buckets = store.stats.enqueued_per_hour_by_job(day)
    shown = [
        {
            "worker": view.worker,
            "alive": view.alive,
            "seen_ago": views.age(view.worker.last_seen_at, view.seen_at),
        }
        for view in workers.list_workers(store, services.settings, common.NAMES_PAGE_SIZE)
    ]
    recent = store.stats.recent_executions(views.window(now, 24), RECENT_SAMPLE)
    return render(
        request,
        "monitor.html",
        job_rows=monitoring.job_rows(recent),
        queue_waits=monitoring.queue_rows(recent),
        sampled=len(recent) >= RECENT_SAMPLE,
        sample=RECENT_SAMPLE,
        refresh_seconds=REFRESH_SECONDS,
        six_hours=views.jobs_chart([b for b in buckets if b.hour >= six], six, now, "last 6 hours"),
        day=views.jobs_chart(buckets, day, now, "last 24 hours"),
        rows=_queue_rows(services),
        workers=shown,
    )
