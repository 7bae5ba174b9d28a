"""``/v1/job_queues/{name}/pause|resume`` and ``/v1/apps/{name}/pause|resume`` (admins).

A paused queue or app starts nothing new; what runs goes on, and enqueueing is
still accepted. ``/v1/queues/{name}/...`` answers as ``/v1/job_queues/{name}/...``.
"""

from __future__ import annotations

from fastapi import APIRouter

from pitmaster.api.schemas import WITH_BODY, AppOut, PauseRequest, QueueOut, error_responses
from pitmaster.http_common.deps import ServicesDep, require_admin
from pitmaster.services import pausing

admin_router = APIRouter(prefix="/v1", dependencies=[require_admin])

_CHANGE = error_responses(*WITH_BODY, 404)


@admin_router.post("/job_queues/{name}/pause", responses=_CHANGE, tags=["job queues"])
@admin_router.post("/queues/{name}/pause", responses=_CHANGE, include_in_schema=False)
def pause_queue(name: str, services: ServicesDep, body: PauseRequest | None = None) -> QueueOut:
    """Start nothing more from this queue until resumed; the reason shows as pending_reason."""
    reason = body.reason if body is not None else ""
    return QueueOut.of(pausing.pause_queue(services.store, name, reason))


@admin_router.post("/job_queues/{name}/resume", responses=_CHANGE, tags=["job queues"])
@admin_router.post("/queues/{name}/resume", responses=_CHANGE, include_in_schema=False)
def resume_queue(name: str, services: ServicesDep) -> QueueOut:
    return QueueOut.of(pausing.resume_queue(services.store, services.wakeup, name))


@admin_router.post("/apps/{name}/pause", responses=_CHANGE, tags=["apps"])
def pause_app(name: str, services: ServicesDep, body: PauseRequest | None = None) -> AppOut:
    """Start nothing more of this app's, in any queue, until resumed."""
    reason = body.reason if body is not None else ""
    return AppOut.of(pausing.pause_app(services.store, name, reason))


@admin_router.post("/apps/{name}/resume", responses=_CHANGE, tags=["apps"])
def resume_app(name: str, services: ServicesDep) -> AppOut:
    return AppOut.of(pausing.resume_app(services.store, services.wakeup, name))
