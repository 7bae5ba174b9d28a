"""``/v2``: enqueue, barbeque-compatible."""

from __future__ import annotations

from fastapi import APIRouter

from pitmaster.api.schemas import (
    WITH_BODY,
    EnqueueBatchRequest,
    EnqueueBatchResponse,
    EnqueueRequest,
    EnqueueResponse,
    IdempotencyKeyHeader,
    error_responses,
)
from pitmaster.errors import InvalidInput
from pitmaster.http_common.deps import CallerDep, ServicesDep
from pitmaster.services import executions

router = APIRouter(prefix="/v2", tags=["executions"])

ENQUEUE_PATH = "/v2/job_executions"
MESSAGE_IS_DATA = (
    "a message is data for the job: its container's image, command, mounts, network, "
    "privileges and environment come from the job definition only"
)
_ERRORS = error_responses(*WITH_BODY, 404, 409)


def _one_key(header: str | None, field: str | None) -> str | None:
    if header is not None and field is not None and header != field:
        raise InvalidInput("the Idempotency-Key header and idempotency_key differ")
    return header if header is not None else field


@router.post("/job_executions", status_code=201, responses=_ERRORS)
def enqueue(
    request: EnqueueRequest,
    services: ServicesDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> EnqueueResponse:
    """Enqueue a message for a job; answered only once the execution is committed.

    barbeque's clients send optional fields as null: null means not given. A message
    too big for the environment, for a job that takes it there only, is refused (413).
    With an Idempotency-Key header (or ``idempotency_key``), repeating a request
    returns the execution the first one made; the same key on another request is 409.
    An app token enqueues into its own app only: any other is not found.
    """
    order = executions.EnqueueOrder(
        application=request.application,
        job=request.job,
        message=request.message,
        queue=request.queue,
        delay_seconds=request.delay_seconds,
        idempotency_key=_one_key(idempotency_key, request.idempotency_key),
        run_at=request.run_at,
        priority=request.priority,
    )
    execution = executions.enqueue(services.store, services.wakeup, caller, order)
    return EnqueueResponse(
        message_id=execution.message_id, status=execution.status, id=execution.id
    )


@router.post("/job_executions/batch", status_code=201, responses=_ERRORS)
def enqueue_batch(
    request: EnqueueBatchRequest, services: ServicesDep, caller: CallerDep
) -> EnqueueBatchResponse:
    """Enqueue up to 1,000 messages in one transaction; answered once all are committed.

    Every item is checked as ``POST /v2/job_executions`` checks one, before any is
    stored: the first bad item makes the whole batch fail, with an error naming
    it (``items[3]: job 'x' is not defined ...``), and nothing is enqueued. An
    item's ``idempotency_key`` works as in a single enqueue: an item repeating an
    earlier request gets that execution (the answer lists it again).
    """
    orders = [
        executions.EnqueueOrder(
            application=item.application,
            job=item.job,
            message=item.message,
            queue=item.queue,
            delay_seconds=item.delay_seconds,
            idempotency_key=item.idempotency_key,
            run_at=item.run_at,
            priority=item.priority,
        )
        for item in request.items
    ]
    made = executions.enqueue_batch(services.store, services.wakeup, caller, orders)
    return EnqueueBatchResponse(
        items=[EnqueueResponse(message_id=e.message_id, status=e.status, id=e.id) for e in made]
    )
