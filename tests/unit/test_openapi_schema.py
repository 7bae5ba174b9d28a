"""Every operation of ``/openapi.json``, called with data schemathesis makes from the schema.

No answer may be a 5xx, and every answer must be one the schema documents, in
the shape it documents; data the schema calls invalid must be refused with a
4xx. Data valid by the schema may still be refused (422) for rules a JSON
Schema cannot say (the first element of a command names a program, a cursor is
one the API gave out, run_at within 30 days), so schemathesis's "valid data is
accepted" check is left out. Bounded and deterministic: a fixed number of
examples per operation and mode, derandomized, so a run is the same every time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from cryptography.fernet import Fernet
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import APIOperation
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from ..credentials import ADMIN_TOKEN, bearer

EXAMPLES = 15
BOUNDED = hypothesis_settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def api_app(settings: Settings, store: Store) -> FastAPI:
    tokens.ensure_admin_tokens(settings, store)
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["true"])
    # Without a rate limit: the examples come faster than any client's would. With a
    # secrets key, so that the secrets routes are run, not only refused with 503.
    key = SecretStr(Fernet.generate_key().decode())
    return create_app(settings.model_copy(update={"rate_limit": 0, "secrets_key": key}), store)


@pytest.fixture(params=["admin", "app token", "anonymous"])
def headers(request: pytest.FixtureRequest, api_app: FastAPI, store: Store) -> dict[str, str]:
    """Headers every generated request carries: whom the run calls the API as.

    An app token reaches other code than an admin's (its app's world only, 403
    and 404 where an admin gets answers), so each runs every operation.
    """
    if request.param == "admin":
        return bearer(ADMIN_TOKEN)
    if request.param == "app token":
        return bearer(tokens.create_token(store, "shop", "schemathesis")[1])
    return {}


def _failures_of(
    operation: APIOperation[Any, Any, Any, Any],
    mode: schemathesis.GenerationMode,
    headers: dict[str, str],
) -> str | None:
    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case[Any]) -> None:
        excluded: list[Callable[..., bool | None]] = [positive_data_acceptance]
        if "Authorization" in headers and _mutates_authorization(case):
            # The run's own token replaces the header this case broke, so the request is
            # valid again and may be answered 200 (as schemathesis allows for a body a
            # caller replaces); the other checks, no 5xx among them, still apply.
            excluded.append(negative_data_rejection)
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    try:
        call()
    except Unsatisfiable:  # nothing invalid to make of it: nothing to check
        return None
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups what it found
        return f"{operation.label} ({mode.value}): {_described(exc)}"
    return None


def _mutates_authorization(case: schemathesis.Case[Any]) -> bool:
    data = case.meta.phase.data if case.meta is not None else None
    names = [getattr(data, "parameter", None)]
    names += [getattr(m, "parameter", None) for m in getattr(data, "mutations", None) or []]
    return any(isinstance(name, str) and name.lower() == "authorization" for name in names)


def _described(exc: BaseException) -> str:
    """The failure with every failure grouped in it (a flaky one hides them otherwise)."""
    if isinstance(exc, BaseExceptionGroup):
        inner = "\n".join(f"  - {_described(e)}" for e in exc.exceptions)
        return f"{exc}\n{inner}"
    return f"{type(exc).__name__}: {exc}"


def _modes(operation: APIOperation[Any, Any, Any, Any]) -> list[schemathesis.GenerationMode]:
    """Valid data for every operation; invalid data where there is a body, query or header
    to make it of (an invalid string path parameter cannot be had)."""
    modes = [schemathesis.GenerationMode.POSITIVE]
    if any(list(part) for part in (operation.body, operation.query, operation.headers)):
        modes.append(schemathesis.GenerationMode.NEGATIVE)
    return modes


# On PostgreSQL only: it refuses more than SQLite does (NUL in text, for one), and one
# backend keeps the run near a minute.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_every_operation_answers_as_documented_and_never_5xx(
    api_app: FastAPI, headers: dict[str, str]
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_app)
    results = list(schema.get_all_operations())
    assert not [result.err() for result in results if isinstance(result, Err)]
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) > 20, "the schema lost its operations"

    failures = [
        failure
        for operation in operations
        for mode in _modes(operation)
        if (failure := _failures_of(operation, mode, headers)) is not None
    ]

    assert failures == [], "\n\n".join(failures)
