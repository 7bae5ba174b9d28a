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

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from pitmaster.server.app import create_app
from pitmaster.settings import Settings
from pitmaster.store.store import Store

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
def headers() -> dict[str, str]:
    """Headers every generated request carries (an Authorization header goes here)."""
    return {}


@pytest.fixture
def api_app(settings: Settings, store: Store) -> FastAPI:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["true"])
    # Without a rate limit: the examples come faster than any client's would.
    return create_app(settings.model_copy(update={"rate_limit": 0}), store)


def _failures_of(
    operation: APIOperation[Any, Any, Any, Any],
    mode: schemathesis.GenerationMode,
    headers: dict[str, str],
) -> str | None:
    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    try:
        call()
    except Unsatisfiable:  # nothing invalid to make of it: nothing to check
        return None
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups what it found
        return f"{operation.label} ({mode.value}): {_described(exc)}"
    return None


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
