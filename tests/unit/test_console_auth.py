"""Logging in to the console, its session cookie, CSRF on every form, and an app's view of it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from pitmaster import auth
from pitmaster.models import ExecutionFilter, Outcome, Status
from pitmaster.server.app import create_app
from pitmaster.services import schedules as schedule_service
from pitmaster.services import tokens
from pitmaster.services.inputs import ScheduleCreate
from pitmaster.settings import Settings
from pitmaster.store.store import Store
from pitmaster.web import login, pages

from ..credentials import ADMIN_TOKEN
from .conftest import form_token, log_in


@pytest.fixture
def browser(settings: Settings, store: Store) -> Iterator[TestClient]:
    """A browser on the console, not logged in, that does not follow redirects."""
    tokens.ensure_admin_tokens(settings, store)
    with TestClient(
        create_app(settings, store), raise_server_exceptions=True, follow_redirects=False
    ) as client:
        yield client


@pytest.fixture
def shop_and_blog(store: Store) -> dict[str, str]:
    """A failed execution of each of ``shop`` and ``blog`` (their message_ids, by app)."""
    ended = {}
    for app in ("shop", "blog"):
        store.create_app(app, f"{app}:1")
        store.create_job_definition(app, "mail", ["m"])
        execution = store.enqueue(app, "mail", "default", {"app": app})
        claim = store.claim("w", 60)
        assert claim is not None
        now = datetime.now(UTC)
        store.mark_running(claim.attempt_id, f"c-{app}", "engine", now)
        assert store.record_outcome(claim.attempt_id, Outcome(Status.FAILED, "exited 1", 1, now))
        ended[app] = execution.message_id
    return ended


def csrf(client: TestClient) -> str:
    return form_token(client)


def csrf_in(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert match
    return match.group(1)


def session_cookie(response: httpx.Response) -> SimpleCookie:
    [header] = [h for h in response.headers.get_list("set-cookie") if "pitmaster_session=" in h]
    cookie = SimpleCookie()
    cookie.load(header)
    return cookie


# -- logging in and out -------------------------------------------------------------------


def test_given_no_session_then_pages_send_to_login_with_the_page_to_come_back_to(
    browser: TestClient,
) -> None:
    home = browser.get("/")
    deep = browser.get("/job_executions?status=failed")
    posted = browser.post("/apps", data={"name": "x"})
    live = browser.get("/job_executions/abc/live.json")

    assert (home.status_code, home.headers["location"]) == (303, "/login")
    assert deep.status_code == 303
    assert deep.headers["location"] == "/login?next=%2Fjob_executions%3Fstatus%3Dfailed"
    assert (posted.status_code, posted.headers["location"]) == (303, "/login")
    assert live.status_code == 401 and "log in" in live.json()["error"]
    login = browser.get("/login")
    assert login.status_code == 200 and 'name="token"' in login.text
    assert 'type="password"' in login.text and 'name="csrf_token"' in login.text


def test_given_a_valid_token_when_logged_in_then_an_httponly_samesite_session_cookie(
    browser: TestClient,
) -> None:
    response = browser.post(
        "/login",
        data={"token": ADMIN_TOKEN, "csrf_token": csrf(browser), "next": "/job_queues"},
    )

    assert (response.status_code, response.headers["location"]) == (303, "/job_queues")
    morsel = session_cookie(response)["pitmaster_session"]
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    assert not morsel["secure"]  # plain http: a Secure cookie would never come back
    assert len(morsel.value) >= 40
    page = browser.get("/job_queues")
    assert page.status_code == 200
    assert "admin" in page.text and auth.token_id(ADMIN_TOKEN) in page.text
    assert ADMIN_TOKEN not in page.text


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each cookie ``response`` sets, by name, with its attributes as sent."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def assert_host_only_secure(header: str) -> None:
    # What a browser requires of a __Host- cookie: Secure, Path=/, no Domain.
    attributes = [part.strip().lower() for part in header.split(";")[1:]]
    assert "secure" in attributes and "httponly" in attributes, header
    assert "path=/" in attributes, header
    assert not any(part.startswith("domain") for part in attributes), header


def test_given_https_then_the_session_and_csrf_cookies_are_secure_host_only_cookies(
    settings: Settings, store: Store
) -> None:
    tokens.ensure_admin_tokens(settings, store)
    with TestClient(
        create_app(settings, store), base_url="https://testserver", follow_redirects=False
    ) as client:
        form = client.get("/login")
        response = client.post(
            "/login", data={"token": ADMIN_TOKEN, "csrf_token": csrf(client), "next": "/"}
        )
        page = client.get("/")
        bare = client.get("/", headers={"Cookie": "pitmaster_session=" + "x" * 43})

    [csrf_cookie] = set_cookies(form).values()
    assert csrf_cookie.startswith("__Host-pitmaster_csrf=")
    assert_host_only_secure(csrf_cookie)
    session = set_cookies(response)["__Host-pitmaster_session"]
    assert_host_only_secure(session)
    assert "samesite=lax" in session.lower() and "samesite=strict" in csrf_cookie.lower()
    assert response.headers["location"] == "/" and page.status_code == 200
    # Over HTTPS a cookie without the prefix, which a sibling subdomain could set, is not read.
    assert bare.status_code == 303


def test_given_a_public_https_url_behind_a_proxy_then_the_cookies_are_secure_host_only_cookies(
    settings: Settings, store: Store
) -> None:
    public = settings.model_copy(update={"public_url": "https://jobs.example.com"})
    tokens.ensure_admin_tokens(public, store)
    with TestClient(create_app(public, store), follow_redirects=False) as client:
        # The browser sees https (the proxy ends it), so it sends back the Secure CSRF
        # cookie, which this client over plain http would not: it is sent by hand.
        form = client.get("/login")
        [csrf_cookie] = set_cookies(form).values()
        nonce = SimpleCookie(csrf_cookie)["__Host-pitmaster_csrf"].value
        client.cookies.clear()
        response = client.post(
            "/login",
            data={"token": ADMIN_TOKEN, "csrf_token": csrf_in(form.text), "next": "/"},
            headers={"Cookie": f"__Host-pitmaster_csrf={nonce}"},
        )
    assert_host_only_secure(csrf_cookie)
    assert response.status_code == 303
    assert_host_only_secure(set_cookies(response)["__Host-pitmaster_session"])


def test_given_plain_http_then_the_cookies_have_no_prefix_and_are_not_secure(
    browser: TestClient,
) -> None:
    form = browser.get("/login")
    response = browser.post(
        "/login", data={"token": ADMIN_TOKEN, "csrf_token": csrf(browser), "next": "/"}
    )
    assert set(set_cookies(form)) == {"pitmaster_csrf"}
    session = set_cookies(response)["pitmaster_session"]
    assert "secure" not in [part.strip().lower() for part in session.split(";")]


@pytest.mark.parametrize(
    "token",
    ["", "pm_000000000000_not-a-real-token-not-a-real-token-00", ADMIN_TOKEN + "x"],
    ids=["empty", "unknown", "wrong"],
)
def test_given_a_bad_token_when_logging_in_then_401_and_the_form_again(
    browser: TestClient, token: str
) -> None:
    response = browser.post(
        "/login", data={"token": token, "csrf_token": csrf(browser), "next": "/"}
    )

    assert response.status_code == 401
    assert 'name="token"' in response.text and 'role="alert"' in response.text
    assert "pitmaster_session" not in browser.cookies
    assert browser.get("/").status_code == 303


def test_given_a_login_form_without_its_csrf_token_then_403_and_no_session(
    browser: TestClient,
) -> None:
    csrf(browser)
    forged = browser.post("/login", data={"token": ADMIN_TOKEN, "next": "/"})
    del browser.cookies["pitmaster_csrf"]
    cross_site = browser.post(
        "/login", data={"token": ADMIN_TOKEN, "csrf_token": "a" * 64, "next": "/"}
    )

    assert forged.status_code == 403 and cross_site.status_code == 403
    assert "pitmaster_session" not in browser.cookies


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "evil.example/login",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/\r\nSet-Cookie: x=1",
        " /job_queues",
        "/job queues",
        "",
    ],
)
def test_given_a_next_that_leaves_the_site_when_logged_in_then_it_goes_home(
    browser: TestClient, target: str
) -> None:
    response = browser.post(
        "/login", data={"token": ADMIN_TOKEN, "csrf_token": csrf(browser), "next": target}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_given_a_local_next_when_logged_in_then_it_is_kept_and_the_form_carries_it(
    browser: TestClient,
) -> None:
    form = browser.get("/login", params={"next": "/job_executions?status=failed"})
    assert 'value="/job_executions?status=failed"' in form.text
    evil = browser.get("/login", params={"next": "//evil.example"})
    assert "evil.example" not in evil.text

    response = browser.post(
        "/login",
        data={
            "token": ADMIN_TOKEN,
            "csrf_token": csrf(browser),
            "next": "/job_executions?status=failed",
        },
    )
    assert response.headers["location"] == "/job_executions?status=failed"


def test_given_a_session_when_logged_out_then_its_cookie_no_longer_opens_pages(
    browser: TestClient,
) -> None:
    log_in(browser)
    old_session = browser.cookies["pitmaster_session"]

    refused = browser.post("/logout", data={})
    assert refused.status_code == 403 and browser.get("/").status_code == 200
    logged_out = browser.post("/logout", data={"csrf_token": csrf(browser)})

    assert (logged_out.status_code, logged_out.headers["location"]) == (303, "/login")
    assert "pitmaster_session" not in browser.cookies
    browser.cookies.set("pitmaster_session", old_session)
    assert browser.get("/").status_code == 303


def test_given_a_session_when_its_token_is_revoked_then_it_ends(
    browser: TestClient, store: Store, shop_and_blog: dict[str, str]
) -> None:
    shop_token = tokens.create_token(store, "shop", "")[1]
    log_in(browser, shop_token)
    assert browser.get("/").status_code == 200

    store.tokens.revoke(auth.token_id(shop_token))

    assert browser.get("/").status_code == 303


def test_given_a_session_cookie_then_the_api_still_wants_a_token(browser: TestClient) -> None:
    log_in(browser)
    assert browser.get("/v1/apps").status_code == 401


# -- CSRF on every form ----------------------------------------------------------------------


def test_given_a_logged_in_admin_then_every_form_post_without_csrf_is_403_and_changes_nothing(
    browser: TestClient, store: Store, shop_and_blog: dict[str, str]
) -> None:
    log_in(browser)
    failed = shop_and_blog["shop"]
    schedule_service.create_schedule(
        store, ScheduleCreate(name="nightly", application="shop", job="mail", cron="@daily")
    )
    posts = {
        "/apps": {"name": "new", "docker_image": "new:1"},
        "/apps/shop/edit": {"docker_image": "shop:2"},
        "/apps/shop/delete": {},
        "/job_definitions": {"app": "shop", "job": "new", "command": "true"},
        "/job_definitions/shop/mail/edit": {"command": "false"},
        "/job_definitions/shop/mail/delete": {},
        "/job_executions/retries": {"status": "failed"},
        f"/job_executions/{failed}/retry": {},
        f"/job_executions/{failed}/cancel": {},
        "/logout": {},
        "/login": {"token": ADMIN_TOKEN},
        "/schedules": {"name": "new", "application": "shop", "job": "mail", "cron": "@daily"},
        "/schedules/nightly/edit": {"cron": "@hourly"},
        "/schedules/nightly/pause": {},
        "/schedules/nightly/resume": {},
        "/schedules/nightly/run": {},
        "/schedules/nightly/delete": {},
        "/notification_targets": {"name": "ops", "kind": "webhook", "url": "http://127.0.0.1:9"},
        "/notification_targets/ops/edit": {"description": "changed"},
        "/notification_targets/ops/test": {},
        "/notification_targets/ops/delete": {},
        "/job_queues": {"name": "new"},
        "/job_queues/default/edit": {"max_concurrent_executions": "1"},
        "/job_queues/default/delete": {},
        "/topics": {"name": "orders"},
        "/topics/orders/delete": {},
        "/topics/orders/subscriptions": {"application": "shop", "job": "mail"},
        "/topics/orders/subscriptions/1/delete": {},
        "/topics/orders/messages": {"message": "{}"},
        "/job_queues/default/pause": {"reason": "backup"},
        "/job_queues/default/resume": {},
        "/apps/shop/pause": {"reason": "backup"},
        "/apps/shop/resume": {},
    }
    console_posts = {
        route.path
        for router in (pages.router, pages.admin_router, login.router)
        for route in router.routes
        if isinstance(route, APIRoute) and route.methods is not None and "POST" in route.methods
    }
    assert len(console_posts) == len(posts)  # a new form needs a line here
    before = (
        store.list_apps(),
        store.list_job_definitions("shop"),
        store.get_execution(failed),
        store.list_schedules(10),
        store.list_queues(),
        store.notifications.list_targets(),
        store.list_topics(10),
    )

    for path, data in posts.items():
        for token in (None, "0" * 64):
            sent = data | ({"csrf_token": token} if token else {})
            response = browser.post(path, data=sent)
            assert response.status_code == 403, (path, response.status_code)

    after = (
        store.list_apps(),
        store.list_job_definitions("shop"),
        store.get_execution(failed),
        store.list_schedules(10),
        store.list_queues(),
        store.notifications.list_targets(),
        store.list_topics(10),
    )
    assert after == before
    assert len(store.attempts_of(store.get_execution(failed).id)) == 1


def test_given_two_sessions_then_a_token_from_the_other_one_is_refused(
    settings: Settings, store: Store
) -> None:
    tokens.ensure_admin_tokens(settings, store)
    app = create_app(settings, store)
    with TestClient(app, follow_redirects=False) as victim, TestClient(app) as attacker:
        log_in(victim)
        log_in(attacker)
        own = csrf(victim)
        # Given the attacker's token, and its CSRF cookie planted in the victim's browser
        # (as a sibling subdomain can over plain http),
        planted = csrf(attacker)
        victim_nonce = victim.cookies["pitmaster_csrf"]
        victim.cookies.set("pitmaster_csrf", attacker.cookies["pitmaster_csrf"])
        with_planted = victim.post(
            "/apps", data={"name": "a", "docker_image": "a:1", "csrf_token": planted}
        )
        # or only the token, with the victim's own cookie,
        victim.cookies.set("pitmaster_csrf", victim_nonce)
        foreign = victim.post(
            "/apps", data={"name": "b", "docker_image": "b:1", "csrf_token": planted}
        )
        # or the victim's pre-login token (bound to its nonce but to no session),
        victim.cookies.delete("pitmaster_session")
        pre_session = csrf(victim)
        log_in(victim)
        stale = victim.post(
            "/apps", data={"name": "c", "docker_image": "c:1", "csrf_token": pre_session}
        )
        own = csrf(victim)
        accepted = victim.post(
            "/apps", data={"name": "d", "docker_image": "d:1", "csrf_token": own}
        )

    # then each is refused, and only the victim's own token is taken.
    assert (with_planted.status_code, foreign.status_code, stale.status_code) == (403, 403, 403)
    assert accepted.status_code == 303
    assert [a.name for a in store.list_apps()] == ["d"]


# -- an app token's session ----------------------------------------------------------------------


def test_given_an_app_tokens_session_then_it_sees_only_its_app(
    browser: TestClient, store: Store, shop_and_blog: dict[str, str]
) -> None:
    log_in(browser, tokens.create_token(store, "shop", "shop team")[1])

    home = browser.get("/")
    assert home.status_code == 200
    assert "/apps/shop" in home.text and "/apps/blog" not in home.text
    assert "New app" not in home.text and 'href="/job_queues"' not in home.text
    assert "app <strong>shop</strong>" in home.text and "shop team" in home.text
    executions = browser.get("/job_executions").text
    assert shop_and_blog["shop"] in executions and shop_and_blog["blog"] not in executions
    asked = browser.get("/job_executions", params={"application": "blog"}).text
    assert shop_and_blog["blog"] not in asked
    assert browser.get("/job_definitions").text.count("/job_definitions/shop/mail") >= 1
    assert "/job_definitions/blog/mail" not in browser.get("/job_definitions").text
    assert browser.get(f"/job_executions/{shop_and_blog['shop']}").status_code == 200
    assert browser.get("/apps/shop").status_code == 200
    assert "Delete" not in browser.get("/apps/shop").text

    for path in (
        "/apps/blog",
        "/job_definitions/blog/mail",
        f"/job_executions/{shop_and_blog['blog']}",
        f"/job_executions/{shop_and_blog['blog']}/live.json",
    ):
        assert browser.get(path).status_code == 404, path
    for path in ("/job_queues", "/monitors", "/apps/new", "/apps/shop/edit"):
        assert browser.get(path).status_code == 403, path


def test_given_an_app_tokens_session_then_it_retries_and_cancels_only_its_own(
    browser: TestClient, store: Store, shop_and_blog: dict[str, str]
) -> None:
    log_in(browser, tokens.create_token(store, "shop", "")[1])
    token = csrf(browser)
    blog, shop = shop_and_blog["blog"], shop_and_blog["shop"]

    assert (
        browser.post(f"/job_executions/{blog}/retry", data={"csrf_token": token}).status_code == 404
    )
    assert (
        browser.post(
            "/job_executions/retries", data={"csrf_token": token, "application": "blog"}
        ).status_code
        == 303
    )
    assert browser.post("/apps/blog/delete", data={"csrf_token": token}).status_code == 403
    assert (
        browser.post(
            "/apps", data={"csrf_token": token, "name": "x", "docker_image": "x:1"}
        ).status_code
        == 403
    )
    assert len(store.attempts_of(store.get_execution(blog).id)) == 1
    assert [app.name for app in store.list_apps()] == ["blog", "shop"]

    everything = browser.post(
        "/job_executions/retries", data={"csrf_token": token, "status": "failed"}
    )
    assert everything.headers["location"].endswith("retried=1")
    assert store.get_execution(shop).status is Status.RETRIED
    assert store.get_execution(blog).status is Status.FAILED
    pending = store.enqueue("blog", "mail", "default", None).message_id
    cancelled = browser.post(f"/job_executions/{pending}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 404
    assert store.get_execution(pending).status is Status.PENDING
    assert len(store.list_executions(ExecutionFilter(application="blog")).items) == 2


def test_given_auth_none_then_the_console_opens_without_login_and_says_so(
    settings: Settings, store: Store
) -> None:
    open_settings = settings.model_copy(update={"auth": "none", "admin_token": None})
    with TestClient(create_app(open_settings, store), follow_redirects=False) as client:
        home = client.get("/")
        login = client.get("/login", params={"next": "/job_queues"})

    assert home.status_code == 200 and "authentication is off" in home.text
    assert (login.status_code, login.headers["location"]) == (303, "/job_queues")
