"""``/v2``: enqueue, barbeque-compatible."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter

from pitmaster.api.deps import ServicesDep
from pitmaster.api.schemas import EnqueueRequest, EnqueueResponse, ErrorOut
from pitmaster.errors import InvalidInput, TooLarge

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v2", tags=["executions"])

MAX_MESSAGE_BYTES = 256 * 1024
_ERRORS = {code: {"model": ErrorOut} for code in (400, 404, 413, 422, 503)}


def message_size(message: Any) -> int:
    """The message's size as UTF-8 JSON; InvalidInput if it cannot be stored as JSON."""
    try:
        return len(json.dumps(message, ensure_ascii=False, allow_nan=False).encode())
    except ValueError as exc:  # NaN or Infinity, or a lone surrogate (UnicodeEncodeError)
        raise InvalidInput(f"message is not storable as JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidInput("message is nested too deeply") from exc


@router.post("/job_executions", status_code=201, responses=_ERRORS)  # type: ignore[arg-type]
def enqueue(request: EnqueueRequest, services: ServicesDep) -> EnqueueResponse:
    """Enqueue a message for a job; answered only once the execution is committed."""
    size = message_size(request.message)
    if size > MAX_MESSAGE_BYTES:
        raise TooLarge(f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}")
    execution = services.store.enqueue(
        application=request.application,
        job=request.job,
        queue=request.queue,
        message=request.message,
        delay_seconds=request.delay_seconds,
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
