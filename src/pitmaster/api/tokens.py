"""``/v1/tokens``: API tokens, for admins. A token's secret is shown once, when it is made."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from pitmaster.api.schemas import ErrorOut, TokenCreate, TokenCreated
from pitmaster.http_common.deps import ServicesDep, require_admin
from pitmaster.services import tokens
from pitmaster.services.tokens import TokenOut

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 422, 503)
}
router = APIRouter(
    prefix="/v1/tokens", tags=["tokens"], dependencies=[require_admin], responses=_ERRORS
)


@router.post("", status_code=201)
def create_token(body: TokenCreate, services: ServicesDep) -> TokenCreated:
    """Make a token: for ``app``, else an admin token. The answer is the only place it shows."""
    stored, token = tokens.create_token(services.store, body.app, body.description)
    return TokenCreated(**TokenOut.of(stored).model_dump(), token=token)


@router.get("")
def list_tokens(services: ServicesDep) -> list[TokenOut]:
    """Every token, revoked ones too, without their secrets."""
    return [TokenOut.of(token) for token in tokens.list_tokens(services.store)]


@router.delete("/{token_id}", status_code=204)
def revoke_token(token_id: str, services: ServicesDep) -> Response:
    """Revoke a token (and end its console sessions); the last admin token stays (409)."""
    tokens.revoke_token(services.store, token_id)
    services.token_cache.forget(token_id)  # refused here at once, elsewhere within its TTL
    return Response(status_code=204)
