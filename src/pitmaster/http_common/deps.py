"""What the API's and the console's handlers need, reached through the application's state:
the dependencies of the operations (``Services``) and the caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pitmaster import auth
from pitmaster.auth import Caller
from pitmaster.errors import Unauthenticated
from pitmaster.http_common.ratelimit import RateLimiter, client_address
from pitmaster.services.executions import Wakeup
from pitmaster.services.live_output import LiveOutput
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.token_cache import TokenCache


@dataclass(frozen=True)
class Services:
    """What the operations of ``pitmaster.services`` are called with."""

    settings: Settings
    store: Store
    # Wakes the worker of this process (``up``) when there is new work; None: none here.
    wakeup: Wakeup
    live_output: LiveOutput
    # Tokens verified lately: most requests cost no database read to authenticate.
    token_cache: TokenCache = field(default_factory=lambda: TokenCache(0))


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]

# Declared for the OpenAPI document (the "Authorize" button of /docs); the
# header itself is read below, so that a malformed one gets a clear message.
_bearer = HTTPBearer(auto_error=False, description="an API token: `pitmaster token create`")


def _caller(
    request: Request,
    services: ServicesDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Caller:
    if services.settings.auth == "none":
        return auth.TRUSTED
    header = request.headers.get("authorization")
    if header is None:
        raise Unauthenticated(
            "authentication required: send the header Authorization: Bearer TOKEN"
        )
    presented = auth.bearer_token(header)
    if presented is None:
        raise Unauthenticated("the Authorization header must be 'Bearer TOKEN'")
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    token_hash = auth.hash_token(presented)
    caller = services.token_cache.get(token_hash)
    if caller is None:
        try:
            caller = auth.authenticate(services.store, presented)
        except Unauthenticated:
            if limiter is not None:
                limiter.refused(token_hash, client_address(request.scope))
            raise
        services.token_cache.put(token_hash, caller)
    if limiter is not None:  # its next requests count against the token, not the address
        limiter.verified(token_hash)
    request.state.caller = caller
    return caller


def _admin(caller: Annotated[Caller, Depends(_caller)]) -> Caller:
    caller.require_admin()
    return caller


CallerDep = Annotated[Caller, Depends(_caller)]
"""Any valid token (or anyone, with authentication off)."""
AdminDep = Annotated[Caller, Depends(_admin)]
"""An admin token; an app token gets 403."""
require_admin = Depends(_admin)
"""For ``dependencies=[...]`` of routers and routes that only admins may use."""
