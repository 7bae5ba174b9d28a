"""``/v2``: enqueue, barbeque-compatible."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header

from pitmaster.api.deps import CallerDep, ServicesDep
from pitmaster.api.schemas import (
    PRINTABLE_PATTERN,
    WITH_BODY,
    EnqueueRequest,
    EnqueueResponse,
    error_responses,
)
from pitmaster.errors import InvalidInput, TooLarge
from pitmaster.models import (
    DEFAULT_QUEUE,
    MAX_MESSAGE_BYTES,
    MAX_MESSAGE_DEPTH,
    MESSAGE_ENV_LIMIT,
    MessageDelivery,
    json_depth,
)
from pitmaster.store.store import Store

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v2", tags=["executions"])

ENQUEUE_PATH = "/v2/job_executions"
MESSAGE_IS_DATA = (
    "a message is data for the job: its container's image, command, mounts, network, "
    "privileges and environment come from the job definition only"
)
_ERRORS = error_responses(*WITH_BODY, 404, 409)


def message_size(message: Any) -> int:
    """The message's size as UTF-8 JSON; InvalidInput if it cannot be stored as JSON."""
    try:
        return len(json.dumps(message, ensure_ascii=False, allow_nan=False).encode())
    except ValueError as exc:  # NaN or Infinity, or a lone surrogate (UnicodeEncodeError)
        raise InvalidInput(f"message is not storable as JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidInput("message is nested too deeply") from exc


def check_message_fits(store: Store, application: str, job: str, size: int) -> None:
    """TooLarge if the job takes its message in BARBEQUE_MESSAGE only and it cannot fit there.

    Only a message too big for the environment costs the lookup of its job definition.
    """
    if size <= MESSAGE_ENV_LIMIT:
        return
    definition = store.get_job_definition(application, job)
    if definition.message_delivery is MessageDelivery.ENV:
        raise TooLarge(
            f"message is {size} bytes, and job {application}/{job} takes its message in the "
            f"environment variable BARBEQUE_MESSAGE only (message_delivery: env), which holds "
            f"at most {MESSAGE_ENV_LIMIT} bytes: send a smaller message, or set the job "
            "definition's message_delivery to auto or file"
        )


def _one_key(header: str | None, field: str | None) -> str | None:
    if header is not None and field is not None and header != field:
        raise InvalidInput("the Idempotency-Key header and idempotency_key differ")
    return header if header is not None else field


@router.post("/job_executions", status_code=201, responses=_ERRORS)
def enqueue(
    request: EnqueueRequest,
    services: ServicesDep,
    caller: CallerDep,
    idempotency_key: Annotated[
        str | None,
        # One rule for the header and the field (``IdempotencyKey``): no control characters.
        Header(
            pattern=PRINTABLE_PATTERN,
            min_length=1,
            max_length=255,
            description="the same key, the same execution (kept for good)",
        ),
    ] = None,
) -> EnqueueResponse:
    """Enqueue a message for a job; answered only once the execution is committed.

    barbeque's clients send optional fields as null: null means not given. A message
    too big for the environment, for a job that takes it there only, is refused (413).
    With an Idempotency-Key header (or ``idempotency_key``), repeating a request
    returns the execution the first one made; the same key on another request is 409.
    An app token enqueues into its own app only: any other is not found.
    """
    caller.require_app(request.application)
    depth = json_depth(request.message)
    if depth > MAX_MESSAGE_DEPTH:
        raise InvalidInput(f"message is nested {depth} levels deep; at most {MAX_MESSAGE_DEPTH}")
    size = message_size(request.message)
    if size > MAX_MESSAGE_BYTES:
        raise TooLarge(f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}")
    check_message_fits(services.store, request.application, request.job, size)
    key = _one_key(idempotency_key, request.idempotency_key)
    execution = services.store.enqueue(
        application=request.application,
        job=request.job,
        queue=request.queue or DEFAULT_QUEUE,
        message=request.message,
        delay_seconds=request.delay_seconds or 0,
        idempotency_key=key,
        run_at=request.run_at,
        app_id=caller.app_id,
    )
    logger.info(
        "execution %s enqueued for %s/%s on %s",
        execution.message_id,
        execution.application,
        execution.job,
        execution.queue,
    )
    if services.on_enqueue is not None:
        services.on_enqueue()
    return EnqueueResponse(
        message_id=execution.message_id, status=execution.status, id=execution.id
    )
