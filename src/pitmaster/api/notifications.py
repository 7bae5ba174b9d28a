"""``/v1/notification_targets`` and notification rules of apps, job definitions and queues.

Targets and rules need an admin token. An execution's notifications are read by
whoever may read the execution.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from pitmaster.api.schemas import WITH_BODY, error_responses
from pitmaster.http_common.deps import CallerDep, ServicesDep, require_admin
from pitmaster.notifications import Notification, NotificationRule, TargetKind
from pitmaster.services import executions
from pitmaster.services import notifications as service
from pitmaster.services.notifications import (
    QueueRuleInput,
    RuleInput,
    TargetCreate,
    TargetUpdate,
)
from pitmaster.shown import Shown

router = APIRouter(prefix="/v1", tags=["notifications"])
admin_router = APIRouter(prefix="/v1", tags=["notifications"], dependencies=[require_admin])

_READ = error_responses(404, 422)
_CHANGE = error_responses(*WITH_BODY, 404, 409)
_DELETE = error_responses(404, 422)
_TARGETS = "/notification_targets"


class TargetOut(Shown):
    name: str
    kind: TargetKind
    description: str
    url_hint: str = Field(description="the URL with its secret part hidden")
    has_secret: bool = Field(description="webhook: whether deliveries are signed")
    created_at: datetime
    updated_at: datetime


class CreatedTargetOut(TargetOut):
    secret: str | None = Field(
        default=None,
        description="the signing secret made up for a webhook target; shown this once only",
    )


class DeliveryOut(Shown):
    delivery_id: str = Field(description="the idempotency id sent in Pitmaster-Delivery")
    target: str
    event: str
    state: str = Field(description="pending, delivered or expired (given up)")
    tries: int
    next_try_at: datetime
    last_status_code: int | None = Field(description="the receiver's last HTTP status")
    last_answer: str | None = Field(description="what the receiver answered (or the error)")
    last_tried_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    payload: dict[str, Any]

    @classmethod
    def of_notification(cls, notification: Notification) -> DeliveryOut:
        return cls.of(notification)


class RuleOut(BaseModel):
    target: str
    endings: list[str] = []
    after_last_retry: bool = True
    extra_text: str = ""
    pending_minutes: float | None = None

    @classmethod
    def of_rule(cls, rule: NotificationRule) -> RuleOut:
        return cls.model_validate(rule.as_dict())


class TestSent(BaseModel):
    delivery_id: str
    detail: str


# -- targets ---------------------------------------------------------------------------


@admin_router.post(_TARGETS, status_code=201, responses=_CHANGE)
def create_target(body: TargetCreate, services: ServicesDep) -> CreatedTargetOut:
    """Make a target. Its URL and secret are sealed (PITMASTER_SECRETS_KEY is needed: 503)."""
    created = service.create_target(services.store, services.settings, body)
    out = CreatedTargetOut.of(created.target)
    out.secret = created.secret
    return out


@admin_router.get(_TARGETS, responses=error_responses(422))
def list_targets(services: ServicesDep) -> list[TargetOut]:
    return [TargetOut.of(t) for t in services.store.notifications.list_targets()]


@admin_router.get(_TARGETS + "/{name}", responses=_READ)
def get_target(name: str, services: ServicesDep) -> TargetOut:
    return TargetOut.of(services.store.notifications.get_target(name))


@admin_router.patch(_TARGETS + "/{name}", responses=_CHANGE)
def update_target(name: str, body: TargetUpdate, services: ServicesDep) -> TargetOut:
    """Change the description, the URL or the signing secret."""
    return TargetOut.of(service.update_target(services.store, services.settings, name, body))


@admin_router.delete(_TARGETS + "/{name}", status_code=204, responses=_DELETE)
def delete_target(name: str, services: ServicesDep) -> Response:
    """Delete a target, the rules naming it and its notifications."""
    service.delete_target(services.store, name)
    return Response(status_code=204)


@admin_router.get(_TARGETS + "/{name}/deliveries", responses=_READ)
def target_deliveries(name: str, services: ServicesDep) -> list[DeliveryOut]:
    """The target's 50 most recent notifications, newest first, with the receiver's answers."""
    found = services.store.notifications.deliveries_of(name)
    return [DeliveryOut.of_notification(n) for n in found]


@admin_router.post(_TARGETS + "/{name}/test", status_code=202, responses=_READ)
def send_test(name: str, services: ServicesDep) -> TestSent:
    """Queue a test notification; a worker delivers it (see the target's deliveries)."""
    delivery_id = service.send_test(services.store, name)
    return TestSent(delivery_id=delivery_id, detail="queued; a worker delivers it shortly")


# -- rules -------------------------------------------------------------------------------

_JOB_RULES = "/apps/{app}/job_definitions/{job}/notification_rules"
_APP_RULES = "/apps/{app}/notification_rules"
_QUEUE_RULES = "/job_queues/{queue}/notification_rules"


@admin_router.get(_JOB_RULES, responses=_READ)
def get_job_rules(app: str, job: str, services: ServicesDep) -> list[RuleOut]:
    """The job's own rules; when it has none, its app's rules apply."""
    services.store.get_job_definition(app, job)
    return [RuleOut.of_rule(r) for r in services.store.notifications.job_rules(app, job)]


@admin_router.put(_JOB_RULES, responses=_CHANGE)
def put_job_rules(
    app: str, job: str, body: list[RuleInput], services: ServicesDep
) -> list[RuleOut]:
    """Replace the job's rules (an empty list: the app's rules apply again)."""
    services.store.get_job_definition(app, job)
    return [RuleOut.of_rule(r) for r in service.set_job_rules(services.store, app, job, body)]


@admin_router.get(_APP_RULES, responses=_READ)
def get_app_rules(app: str, services: ServicesDep) -> list[RuleOut]:
    """The app's rules: the default of each of its jobs that has none of its own."""
    return [RuleOut.of_rule(r) for r in services.store.notifications.job_rules(app, None)]


@admin_router.put(_APP_RULES, responses=_CHANGE)
def put_app_rules(app: str, body: list[RuleInput], services: ServicesDep) -> list[RuleOut]:
    return [RuleOut.of_rule(r) for r in service.set_job_rules(services.store, app, None, body)]


@admin_router.get(_QUEUE_RULES, responses=_READ)
def get_queue_rules(queue: str, services: ServicesDep) -> list[RuleOut]:
    return [RuleOut.of_rule(r) for r in services.store.notifications.queue_rules(queue)]


@admin_router.put(_QUEUE_RULES, responses=_CHANGE)
def put_queue_rules(queue: str, body: list[QueueRuleInput], services: ServicesDep) -> list[RuleOut]:
    """Replace the queue's rules: notify once for each execution pending too long."""
    return [RuleOut.of_rule(r) for r in service.set_queue_rules(services.store, queue, body)]


# -- an execution's notifications ------------------------------------------------------------


@router.get("/job_executions/{message_id}/notifications", responses=_READ)
def execution_notifications(
    message_id: str, services: ServicesDep, caller: CallerDep
) -> list[DeliveryOut]:
    """The notifications of an execution and how each delivery went, newest first."""
    view = executions.read(services.store, services.settings, caller, message_id)
    found = services.store.notifications.notifications_of(view.execution.message_id)
    return [DeliveryOut.of_notification(n) for n in found]
