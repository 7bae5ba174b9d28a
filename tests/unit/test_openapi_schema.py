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

from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from ..databases import Snapshot, database

EXAMPLES = 15
# An anonymous caller is refused (401) before anything else is looked at, whatever the
# data: a few examples show it, more would only repeat it.
EXAMPLES_ANONYMOUS = 3
BOUNDED = hypothesis_settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
# Methods that change nothing, so their examples leave the database as they found it.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Api:
    """The app over one PostgreSQL database, its operations, and the database as seeded."""

    app: FastAPI
    operations: list[APIOperation[Any, Any, Any, Any]]
    seeded: Snapshot
    app_token: str


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One database, app and schema for the whole module (every caller runs on them).

    On PostgreSQL only: it refuses more than SQLite does (NUL in text, for one).
    """
    with database("postgresql", tmp_path_factory.mktemp("openapi")) as url:
        store = Store(url)
        settings = Settings(
            database_url=url,
            admin_token=SecretStr(ADMIN_TOKEN),
            # Without a rate limit: the examples come faster than any client's would. With a
            # secrets key, so that the secrets routes are run, not only refused with 503.
            rate_limit=0,
            secrets_key=SecretStr(Fernet.generate_key().decode()),
        )
        tokens.ensure_admin_tokens(settings, store)
        store.create_app("shop", "shop:1")
        store.create_job_definition("shop", "mail", ["true"])
        app_token = tokens.create_token(store, "shop", "schemathesis")[1]
        app = create_app(settings, store)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        results = list(schema.get_all_operations())
        assert not [result.err() for result in results if isinstance(result, Err)]
        operations = [result.ok() for result in results if isinstance(result, Ok)]
        seeded = Snapshot(url)
        try:
            yield Api(app, operations, seeded, app_token)
        finally:
            seeded.close()
            store.close()


@pytest.fixture(params=["admin", "app token", "anonymous"])
def caller(request: pytest.FixtureRequest, api: Api) -> tuple[dict[str, str], int]:
    """Headers every generated request carries (whom the run calls the API as), and how
    many examples each operation gets.

    An app token reaches other code than an admin's (its app's world only, 403
    and 404 where an admin gets answers), so each runs every operation.
    """
    api.seeded.restore()
    if request.param == "admin":
        return bearer(ADMIN_TOKEN), EXAMPLES
    if request.param == "app token":
        return bearer(api.app_token), EXAMPLES
    return {}, EXAMPLES_ANONYMOUS


def _failures_of(
    operation: APIOperation[Any, Any, Any, Any],
    mode: schemathesis.GenerationMode,
    headers: dict[str, str],
    examples: int,
    seeded: Snapshot,
) -> str | None:
    @hypothesis_settings(BOUNDED, max_examples=examples)
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case[Any]) -> None:
        excluded: list[Callable[..., bool | None]] = [positive_data_acceptance]
        if "Authorization" in headers and _mutates_authorization(case):
            # The run's own token replaces the header this case broke, so the request is
            # valid again and may be answered 200 (as schemathesis allows for a body a
            # caller replaces); the other checks, no 5xx among them, still apply.
            excluded.append(negative_data_rejection)
        response = case.call(headers=headers)
        if case.method.upper() not in SAFE_METHODS and response.status_code < 400:
            # Every example, and hypothesis's replay of a failing one, meets the database
            # as seeded: an app this one created would make the next one's 201 a 409, and
            # the replay of a failure pass. A refused request changes nothing (4xx) or
            # fails the run anyway (5xx), so only an accepted change is undone.
            seeded.restore()
        case.validate_response(response, excluded_checks=excluded)

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
    """The failure with every failure grouped in it, and how to reproduce it.

    Hypothesis reports a failure that did not happen again as a group of
    exceptions, each a BaseException (schemathesis's group of failed checks is
    one) wrapped in an empty exception whose cause is the real one: unwrap it.
    """
    if not str(exc) and exc.__cause__ is not None:
        return _described(exc.__cause__)
    notes = "".join(f"\n{note}" for note in getattr(exc, "__notes__", []))
    if isinstance(exc, BaseExceptionGroup):
        inner = "\n".join(f"  - {_described(e)}" for e in exc.exceptions)
        return f"{exc}\n{inner}{notes}"
    return f"{type(exc).__name__}: {exc}{notes}"


def _modes(operation: APIOperation[Any, Any, Any, Any]) -> list[schemathesis.GenerationMode]:
    """Valid data for every operation; invalid data where there is a body, query or header
    to make it of (an invalid string path parameter cannot be had)."""
    modes = [schemathesis.GenerationMode.POSITIVE]
    if any(list(part) for part in (operation.body, operation.query, operation.headers)):
        modes.append(schemathesis.GenerationMode.NEGATIVE)
    return modes


def test_every_operation_answers_as_documented_and_never_5xx(
    api: Api, caller: tuple[dict[str, str], int]
) -> None:
    assert len(api.operations) > 20, "the schema lost its operations"
    headers, examples = caller

    failures = [
        failure
        for operation in api.operations
        for mode in _modes(operation)
        if (failure := _failures_of(operation, mode, headers, examples, api.seeded)) is not None
    ]

    assert failures == [], "\n\n".join(failures)
