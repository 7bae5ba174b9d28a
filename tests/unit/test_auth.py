"""API tokens through the real HTTP API, on both databases: who may call what, and whose work.

Given two apps, ``shop`` and ``blog``, an app token of ``shop`` must find
``blog``'s executions exactly as it finds executions that do not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from pitmaster import auth
from pitmaster.errors import Conflict
from pitmaster.models import ExecutionFilter, Outcome, Status, TokenKind
from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from ..api_errors import error_text
from ..conftest import ManualClock
from ..credentials import ADMIN_TOKEN, bearer
from .conftest import serving

# -- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def two_apps(store: Store) -> None:
    """Apps ``shop`` and ``blog``, each with a job ``mail``."""
    for app in ("shop", "blog"):
        store.create_app(app, f"{app}:1")
        store.create_job_definition(app, "mail", ["m"])


@pytest.fixture
def shop_token(store: Store, two_apps: None) -> str:
    return tokens.create_token(store, "shop", "shop's deploys")[1]


@pytest.fixture
def anonymous(settings: Settings, store: Store) -> Iterator[TestClient]:
    """The API, sending no token, with a burst that lets one request reach every route."""
    with serving(
        settings.model_copy(update={"rate_limit_burst": 1000}), store, token=None
    ) as client:
        yield client


def failed_execution(store: Store, app: str) -> str:
    """An execution of ``app``/mail that ran and failed; its message_id."""
    execution = store.enqueue(app, "mail", "default", {"for": app})
    claim = store.claim("w", 60)
    assert claim is not None and claim.execution.id == execution.id
    now = datetime.now(UTC)
    store.mark_running(claim.attempt_id, f"c-{app}", "engine", now)
    assert store.record_outcome(claim.attempt_id, Outcome(Status.FAILED, "exited 1", 1, now))
    return execution.message_id


def body_of(response: httpx.Response) -> tuple[int, Any]:
    return response.status_code, response.json()


# -- tenancy ------------------------------------------------------------------------------


def test_given_an_app_token_then_another_apps_executions_are_as_if_they_did_not_exist(
    client: TestClient, store: Store, shop_token: str
) -> None:
    # Given a failed and a pending execution of blog, and a pending one of shop.
    blog_failed = failed_execution(store, "blog")
    blog_pending = store.enqueue("blog", "mail", "default", None).message_id
    shop_pending = store.enqueue("shop", "mail", "default", None).message_id
    shop = bearer(shop_token)
    unknown = "00000000-0000-4000-8000-000000000000"

    # When shop's token reads, retries or cancels blog's, or enqueues into blog,
    # then each answer is the one for something that does not exist.
    for reference in (blog_failed, str(store.get_execution(blog_failed).id)):
        read = client.get(f"/v1/job_executions/{reference}", headers=shop)
        assert error_text(read, 404) == f"job execution {reference!r} does not exist"
    unknown_read = client.get(f"/v1/job_executions/{unknown}", headers=shop)
    assert error_text(unknown_read, 404) == f"job execution {unknown!r} does not exist"
    retried = client.post(f"/v1/job_executions/{blog_failed}/retries", headers=shop, json={})
    assert error_text(retried, 404) == f"job execution {blog_failed!r} does not exist"
    cancelled = client.post(f"/v1/job_executions/{blog_pending}/cancel", headers=shop)
    assert body_of(cancelled) == (404, {"error": f"job execution {blog_pending!r} does not exist"})
    into_blog = client.post(
        "/v2/job_executions",
        headers=shop,
        json={"application": "blog", "job": "mail", "message": {}},
    )
    into_nothing = client.post(
        "/v2/job_executions",
        headers=shop,
        json={"application": "ghost", "job": "mail", "message": {}},
    )
    assert error_text(into_blog, 404) == "application 'blog' does not exist"
    assert error_text(into_nothing, 404) == "application 'ghost' does not exist"

    # And the lists leave blog's out, even when asked for them by name.
    listed = client.get("/v1/job_executions", headers=shop).json()["items"]
    assert [item["message_id"] for item in listed] == [shop_pending]
    asked = client.get("/v1/job_executions", headers=shop, params={"application": "blog"})
    assert asked.json() == {"items": [], "next_cursor": None}
    bulk = client.post("/v1/job_executions/retries", headers=shop, json={"application": "blog"})
    nothing = {"retried": 0, "matched": 0, "remaining": 0, "next_after_id": None}
    assert bulk.json() == nothing
    assert client.post("/v1/job_executions/retries", headers=shop, json={}).json() == nothing

    # And nothing of blog's changed.
    assert store.get_execution(blog_failed).status is Status.FAILED
    assert len(store.attempts_of(store.get_execution(blog_failed).id)) == 1
    assert store.get_execution(blog_pending).status is Status.PENDING
    assert len(store.list_executions(ExecutionFilter(application="blog")).items) == 2


def test_given_an_app_token_then_it_enqueues_reads_retries_and_cancels_its_own(
    client: TestClient, store: Store, shop_token: str
) -> None:
    shop = bearer(shop_token)
    failed = failed_execution(store, "shop")

    enqueued = client.post(
        "/v2/job_executions",
        headers=shop,
        json={"application": "shop", "job": "mail", "message": {}},
    )
    assert enqueued.status_code == 201
    message_id = enqueued.json()["message_id"]
    read = client.get(f"/v1/job_executions/{message_id}", headers=shop)
    assert read.status_code == 200 and read.json()["application"] == "shop"
    cancelled = client.post(f"/v1/job_executions/{message_id}/cancel", headers=shop)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    retried = client.post(f"/v1/job_executions/{failed}/retries", headers=shop, json={})
    assert retried.status_code == 201
    # A retry's own message_id finds its execution for its app too.
    retry_id = retried.json()["message_id"]
    assert client.get(f"/v1/job_executions/{retry_id}", headers=shop).status_code == 200
    listed = client.get("/v1/job_executions", headers=shop, params={"application": "shop"})
    assert {item["message_id"] for item in listed.json()["items"]} == {message_id, failed}


def test_given_an_app_token_then_blogs_retry_message_id_is_not_found_either(
    client: TestClient, store: Store, shop_token: str
) -> None:
    failed = failed_execution(store, "blog")
    retry_id = client.post(f"/v1/job_executions/{failed}/retries", json={}).json()["message_id"]

    response = client.get(f"/v1/job_executions/{retry_id}", headers=bearer(shop_token))

    assert response.status_code == 404


def _admin_routes(app: Any) -> list[tuple[str, str]]:
    """Every API route an app token may not use, from the OpenAPI document."""
    tenant = {
        ("POST", "/v2/job_executions"),
        ("POST", "/v2/job_executions/batch"),
        ("GET", "/v1/job_executions"),
        ("GET", "/v1/job_executions/{message_id}"),
        ("GET", "/v1/job_executions/{message_id}/attempts/{number}"),
        ("GET", "/v1/job_executions/{message_id}/output"),
        ("GET", "/v1/job_executions/{message_id}/notifications"),
        ("POST", "/v1/job_executions/{message_id}/cancel"),
        ("POST", "/v1/job_executions/{message_id}/retries"),
        ("POST", "/v1/job_executions/retries"),
        ("POST", "/v1/apps/{name}/revision_lock"),
        ("DELETE", "/v1/apps/{name}/revision_lock"),
        ("POST", "/v1/topics/{name}/messages"),  # a publisher app's, the topic decides
        ("GET", "/healthz"),
    }
    routes = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    ]
    admin = [route for route in routes if route not in tenant]
    assert len(admin) >= 20, admin  # apps, job definitions, queues, workers, tokens, metrics
    return admin


def _concrete(path: str) -> str:
    return (
        path.replace("{name}", "blog")
        .replace("{app}", "blog")
        .replace("{job}", "mail")
        .replace("{token_id}", "0123456789ab")
        .replace("{subscription_id}", "1")
    )


def test_given_an_app_token_then_every_admin_route_is_403_and_changes_nothing(
    client: TestClient, store: Store, shop_token: str
) -> None:
    def state() -> tuple[Any, ...]:
        tokens = [(t.id, t.revoked_at) for t in store.tokens.all()]
        return store.list_apps(), store.list_queues(), tokens

    before = state()

    for method, path in _admin_routes(client.app):
        response = client.request(method, _concrete(path), headers=bearer(shop_token), json={})
        assert response.status_code == 403, (method, path, response.text)
        assert "admin token" in response.json()["error"]

    assert state() == before


def test_given_an_app_token_then_it_locks_its_own_apps_revision_but_no_other(
    client: TestClient, store: Store, shop_token: str
) -> None:
    shop = bearer(shop_token)

    own = client.post("/v1/apps/shop/revision_lock", headers=shop, json={"revision": "v2"})
    other = client.post("/v1/apps/blog/revision_lock", headers=shop, json={"revision": "v2"})
    unlock_other = client.delete("/v1/apps/blog/revision_lock", headers=shop)

    assert own.status_code == 201 and own.json() == {"revision": "v2"}
    assert other.status_code == 403 and unlock_other.status_code == 403
    assert store.get_app("blog").revision_lock is None
    assert client.delete("/v1/apps/shop/revision_lock", headers=shop).status_code == 204


# -- who is refused ------------------------------------------------------------------------


def _every_api_route(app: Any) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if path != "/healthz"
    ]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer pm_000000000000_wrong-wrong-wrong-wrong-wrong-wrong-wr",
        f"Bearer {ADMIN_TOKEN}x",
        f"Basic {ADMIN_TOKEN}",
        "Bearer",
        "Bearer  ",
        ADMIN_TOKEN,
        "Bearer " + "x" * 600,
    ],
    ids=["none", "unknown", "wrong", "basic", "empty", "blank", "no-scheme", "too-long"],
)
def test_given_no_valid_token_then_every_api_route_is_401_with_www_authenticate(
    anonymous: TestClient, store: Store, two_apps: None, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    before = (store.list_apps(), len(store.list_executions(ExecutionFilter()).items))

    for method, path in _every_api_route(anonymous.app):
        response = anonymous.request(method, _concrete(path), headers=headers, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        error_text(response, 401)

    assert (store.list_apps(), len(store.list_executions(ExecutionFilter()).items)) == before


def test_given_a_token_revoked_through_this_server_then_401_saying_so_at_once(
    client: TestClient, shop_token: str
) -> None:
    token_id = auth.token_id(shop_token)
    assert client.get("/v1/job_executions", headers=bearer(shop_token)).status_code == 200

    assert client.delete(f"/v1/tokens/{token_id}").status_code == 204
    refused = client.get("/v1/job_executions", headers=bearer(shop_token))

    assert refused.status_code == 401
    assert refused.json() == {"error": f"token {token_id} has been revoked"}
    assert refused.headers["www-authenticate"] == "Bearer"


def test_given_a_token_revoked_elsewhere_then_refused_once_its_cache_time_has_passed(
    database_url: str, clock: ManualClock, settings: Settings, two_apps: None
) -> None:
    store = Store(database_url, clock=clock)
    token = tokens.create_token(store, "shop", "")[1]
    try:
        with serving(settings, store, token=token) as client:
            assert client.get("/v1/job_executions").status_code == 200
            # Revoked by another server process, or by `pitmaster token revoke`.
            store.tokens.revoke(auth.token_id(token))
            clock.advance(settings.token_cache_seconds - 1)
            still_trusted = client.get("/v1/job_executions").status_code
            clock.advance(1)
            refused = client.get("/v1/job_executions").status_code
    finally:
        store.close()

    assert (still_trusted, refused) == (200, 401)


def test_given_no_token_then_healthz_and_the_api_docs_stay_open(anonymous: TestClient) -> None:
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200
    assert anonymous.get("/docs").status_code == 200
    schemes = anonymous.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"


def test_given_metrics_then_an_admin_token_is_needed(
    client: TestClient, anonymous: TestClient, shop_token: str
) -> None:
    assert anonymous.get("/metrics").status_code == 401
    assert anonymous.get("/metrics", headers=bearer(shop_token)).status_code == 403
    assert client.get("/metrics").status_code == 200


# -- the token API -------------------------------------------------------------------------


def test_given_an_admin_when_it_makes_lists_and_revokes_tokens_then_the_secret_shows_once(
    client: TestClient, anonymous: TestClient, store: Store, two_apps: None
) -> None:
    made = client.post("/v1/tokens", json={"app": "shop", "description": "ci"})
    assert made.status_code == 201
    body = made.json()
    assert set(body) == {
        "id",
        "kind",
        "app",
        "description",
        "created_at",
        "last_used_at",
        "revoked_at",
        "token",
    }
    assert (body["kind"], body["app"], body["description"]) == ("app", "shop", "ci")
    assert body["token"].startswith(f"pm_{body['id']}_")
    admin = client.post("/v1/tokens", json={}).json()
    assert (admin["kind"], admin["app"]) == ("admin", None)

    listed = client.get("/v1/tokens").json()
    assert [t["id"] for t in listed] == [auth.token_id(ADMIN_TOKEN), body["id"], admin["id"]]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert body["token"] not in client.get("/v1/tokens").text

    works = client.get("/v1/job_executions", headers=bearer(body["token"]))
    assert works.status_code == 200
    assert client.delete(f"/v1/tokens/{body['id']}").status_code == 204
    assert client.delete(f"/v1/tokens/{body['id']}").status_code == 204  # again: fine
    assert client.get("/v1/job_executions", headers=bearer(body["token"])).status_code == 401
    assert client.get("/v1/tokens").json()[1]["revoked_at"] is not None
    assert client.delete("/v1/tokens/nope").status_code == 404


def test_given_bad_token_requests_then_4xx_and_nothing_made(
    client: TestClient, store: Store
) -> None:
    assert client.post("/v1/tokens", json={"app": "ghost"}).json() == {
        "error": "app 'ghost' does not exist"
    }
    assert client.post("/v1/tokens", json={"kind": "root"}).status_code == 400  # not a field
    assert client.post("/v1/tokens", json={"description": "\x00"}).status_code == 422
    assert len(store.tokens.all()) == 1


def test_given_the_last_admin_token_when_revoked_then_409_and_it_still_works(
    client: TestClient, store: Store
) -> None:
    only = auth.token_id(ADMIN_TOKEN)

    refused = client.delete(f"/v1/tokens/{only}")

    assert refused.status_code == 409 and "last admin token" in refused.json()["error"]
    assert client.get("/v1/tokens").status_code == 200


def test_given_an_app_with_tokens_when_deleted_then_its_tokens_are_gone_for_good(
    client: TestClient, anonymous: TestClient, store: Store, shop_token: str
) -> None:
    assert client.delete("/v1/apps/shop").status_code == 204
    # Even an app made again under the same name does not bring them back.
    client.post("/v1/apps", json={"name": "shop", "docker_image": "shop:2"})

    assert anonymous.get("/v1/job_executions", headers=bearer(shop_token)).status_code == 401
    assert [t.app for t in store.tokens.all()] == [None]


def test_given_a_token_used_often_then_last_used_is_written_at_most_once_a_minute(
    database_url: str, clock: ManualClock, settings: Settings
) -> None:
    store = Store(database_url, clock=clock)
    store.migrate()
    store.create_app("shop", "shop:1")
    token = tokens.create_token(store, "shop", "")[1]
    token_id = auth.token_id(token)
    try:
        with serving(settings, store, token=token) as client:
            client.get("/v1/job_executions")
            first = store.tokens.get(token_id).last_used_at
            clock.advance(59)
            client.get("/v1/job_executions")
            unchanged = store.tokens.get(token_id).last_used_at
            # Verified again at 59 s, the token is trusted without a lookup for a while.
            clock.advance(settings.token_cache_seconds + 1)
            client.get("/v1/job_executions")
            later = store.tokens.get(token_id).last_used_at
    finally:
        store.close()

    assert first is not None and unchanged == first
    assert later is not None
    assert (later - first).total_seconds() == pytest.approx(60 + settings.token_cache_seconds)


# -- starting a server ----------------------------------------------------------------------


def test_given_an_admin_token_setting_when_started_again_and_again_then_one_token(
    settings: Settings, store: Store
) -> None:
    for _ in range(3):
        assert tokens.ensure_admin_tokens(settings, store) is None

    [token] = store.tokens.all()
    assert (token.id, token.kind, token.active) == (
        auth.token_id(ADMIN_TOKEN),
        TokenKind.ADMIN,
        True,
    )
    assert token.token_hash == auth.hash_token(ADMIN_TOKEN) != ADMIN_TOKEN


def test_given_a_token_of_any_form_in_the_setting_then_it_is_accepted(
    settings: Settings, store: Store
) -> None:
    given = "0f" * 20  # say, from `openssl rand -hex 20`
    custom = settings.model_copy(
        update={"admin_token": Settings.model_validate({"admin_token": given}).admin_token}
    )

    with serving(custom, store, token=given) as client:
        assert client.get("/v1/tokens").status_code == 200

    [token] = store.tokens.all()
    assert token.id.startswith("ext-") and given not in token.id


def test_given_no_admin_token_setting_then_only_the_very_first_start_makes_one(
    settings: Settings, store: Store
) -> None:
    bare = settings.model_copy(update={"admin_token": None})

    first = tokens.ensure_admin_tokens(bare, store)
    second = tokens.ensure_admin_tokens(bare, store)

    assert first is not None and first.startswith("pm_") and second is None
    with serving(bare, store, token=first) as client:
        assert client.get("/v1/tokens").status_code == 200
    # Revoking it (after making another) does not make a third start mint one.
    tokens.create_token(store, None, "spare")
    store.tokens.revoke(auth.token_id(first))
    assert tokens.ensure_admin_tokens(bare, store) is None
    assert len(store.tokens.all()) == 2


def test_given_a_revoked_admin_token_setting_when_started_again_then_it_stays_revoked(
    settings: Settings, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    tokens.ensure_admin_tokens(settings, store)
    tokens.create_token(store, None, "spare")
    store.tokens.revoke(auth.token_id(ADMIN_TOKEN))

    with caplog.at_level(logging.WARNING):
        tokens.ensure_admin_tokens(settings, store)

    assert not store.tokens.get(auth.token_id(ADMIN_TOKEN)).active
    assert "has been revoked" in caplog.text
    with serving(settings, store) as client:
        assert client.get("/v1/tokens").status_code == 401


def test_given_an_admin_token_whose_id_is_taken_then_the_start_fails(
    settings: Settings, store: Store
) -> None:
    tokens.ensure_admin_tokens(settings, store)
    same_id = ADMIN_TOKEN[: len("pm_000000000000_")] + "another-secret-of-forty-or-so-characters"
    clash = settings.model_copy(
        update={"admin_token": Settings.model_validate({"admin_token": same_id}).admin_token}
    )

    with pytest.raises(Conflict, match="belongs to another token"):
        tokens.ensure_admin_tokens(clash, store)


def test_given_a_short_admin_token_then_the_setting_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(admin_token="hunter2")  # type: ignore[arg-type]


def test_given_auth_none_then_the_log_says_so_loudly_and_no_token_is_needed(
    settings: Settings, store: Store, two_apps: None, caplog: pytest.LogCaptureFixture
) -> None:
    open_settings = settings.model_copy(update={"auth": "none", "admin_token": None})

    with caplog.at_level(logging.WARNING):
        app = create_app(open_settings, store)

    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "AUTHENTICATION IS OFF" in warning.getMessage()
    with TestClient(app) as client:
        assert client.get("/v1/apps").status_code == 200
        assert client.post("/v1/tokens", json={}).status_code == 201
    assert tokens.ensure_admin_tokens(open_settings, store) is None


def test_given_tokens_in_use_then_no_log_line_holds_a_secret(
    client: TestClient,
    anonymous: TestClient,
    store: Store,
    shop_token: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        made = client.post("/v1/tokens", json={"app": "blog"}).json()
        anonymous.get("/v1/job_executions", headers=bearer(made["token"]))
        anonymous.get("/v1/job_executions", headers=bearer(made["token"] + "x"))
        anonymous.get("/v1/job_executions", headers=bearer("not-a-pitmaster-token-at-all"))
        client.delete(f"/v1/tokens/{made['id']}")
        anonymous.get("/v1/job_executions", headers=bearer(made["token"]))

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert made["id"] in logged
    secret = made["token"].split("_", 2)[2]
    for text in (secret, ADMIN_TOKEN.split("_", 2)[2], shop_token.split("_", 2)[2]):
        assert text not in logged
    assert "not-a-pitmaster-token-at-all" not in logged
