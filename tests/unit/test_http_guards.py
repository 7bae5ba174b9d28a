"""What guards every HTTP request: body cap, rate limit, security headers, page sizes, input rules."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from pitmaster.errors import InvalidInput
from pitmaster.http_common.ratelimit import RateLimiter, TokenBucket
from pitmaster.models import MAX_MESSAGE_BYTES, MAX_PAGE_SIZE, ExecutionFilter
from pitmaster.services import tokens
from pitmaster.settings import MIN_BODY_BYTES, Settings
from pitmaster.store.store import Store
from pitmaster.web.pages import common as pages

from ..api_errors import error_text
from .conftest import form_token, log_in, serving

# -- helpers ------------------------------------------------------------------------


def _error(response: httpx.Response, status: int, *words: str) -> str:
    return error_text(response, status, *words)


def _executions(store: Store) -> int:
    return len(store.list_executions(ExecutionFilter(), limit=MAX_PAGE_SIZE).items)


@pytest.fixture
def defined(store: Store) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["true"])


def _client(settings: Settings, store: Store, **changes: Any) -> Iterator[TestClient]:
    with serving(settings.model_copy(update=changes), store) as client:
        yield client


@pytest.fixture
def limited(settings: Settings, store: Store) -> Iterator[TestClient]:
    """A server allowing 1 request a second, in bursts of 2."""
    yield from _client(settings, store, rate_limit=1.0, rate_limit_burst=2)


# -- token bucket (pure, the clock passed in) ---------------------------------------


def test_given_a_full_bucket_when_a_burst_is_taken_then_the_next_waits_one_refill() -> None:
    bucket = TokenBucket.full(rate=2.0, burst=3, now=100.0)

    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(0.5)
    # Half a second later one token has come back, and only one.
    assert bucket.take(100.5) == 0.0
    assert bucket.take(100.5) == pytest.approx(0.5)


def test_given_an_idle_bucket_then_it_refills_to_its_burst_and_no_further() -> None:
    bucket = TokenBucket.full(rate=10.0, burst=2, now=0.0)
    bucket.take(0.0)
    bucket.take(0.0)

    assert not bucket.is_full(0.1)
    assert bucket.is_full(0.2)
    assert [bucket.take(1000.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.1)]


def test_given_a_clock_stepping_back_then_no_tokens_are_made_of_it() -> None:
    bucket = TokenBucket.full(rate=1.0, burst=1, now=50.0)
    assert bucket.take(50.0) == 0.0

    assert bucket.take(10.0) > 0
    assert bucket.take(50.5) == pytest.approx(0.5)


def test_given_no_rate_then_a_bucket_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket.full(rate=0.0, burst=1, now=0.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_given_callers_then_each_has_its_own_bucket() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock)

    assert limiter.take("a") == 0.0
    assert limiter.take("b") == 0.0
    assert limiter.take("a") == pytest.approx(1.0)


def test_given_callers_gone_idle_then_their_buckets_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10.0, burst=5, clock=clock)
    for caller in ("a", "b", "c"):
        limiter.take(caller)
    assert len(limiter) == 3

    clock.now += 1.0  # long enough for every bucket to be full again
    limiter.take("d")

    assert len(limiter) == 1


def test_given_more_callers_than_kept_then_memory_stays_bounded() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, clock=Clock(), max_callers=100)

    for number in range(1000):
        limiter.take(f"caller-{number}")

    assert len(limiter) == 100


def test_given_a_bearer_token_then_the_caller_is_a_hash_of_it_only_once_verified() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, clock=Clock())
    scope = {"headers": [(b"authorization", b"Bearer s3cret-token")], "client": ("10.0.0.1", 1)}
    # Given a token not (yet) verified, then its request counts against its address.
    assert limiter.caller_of(scope) == "address:10.0.0.1"

    limiter.verified(hashlib.sha256(b"s3cret-token").hexdigest())
    caller = limiter.caller_of(scope)

    assert "s3cret" not in caller
    assert caller == "token:" + hashlib.sha256(b"s3cret-token").hexdigest()
    respelled = {"headers": [(b"authorization", b"BEARER   s3cret-token ")], "client": ("x", 1)}
    assert limiter.caller_of(respelled) == caller
    assert limiter.caller_of({"headers": [], "client": ("10.0.0.1", 1)}) == "address:10.0.0.1"


# -- rate limit over HTTP -----------------------------------------------------------


def test_given_a_caller_over_its_rate_then_429_with_retry_after(limited: TestClient) -> None:
    assert limited.get("/v1/apps").status_code == 200
    assert limited.get("/v1/job_queues").status_code == 200

    refused = limited.get("/v1/apps")

    _error(refused, 429, "too many requests")
    retry_after = refused.headers["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) >= 1
    assert refused.headers["X-Content-Type-Options"] == "nosniff"


def test_given_a_caller_over_its_rate_then_health_checks_still_answer(limited: TestClient) -> None:
    for _ in range(3):
        limited.get("/v1/apps")

    assert [limited.get("/healthz").status_code for _ in range(5)] == [200] * 5


def test_given_two_tokens_then_each_is_limited_on_its_own(
    limited: TestClient, store: Store
) -> None:
    alice = {"Authorization": f"Bearer {tokens.create_token(store, None, 'alice')[1]}"}
    bob = {"Authorization": f"Bearer {tokens.create_token(store, None, 'bob')[1]}"}
    for _ in range(2):
        assert limited.get("/v1/apps", headers=alice).status_code == 200
    assert limited.get("/v1/apps", headers=alice).status_code == 429

    assert limited.get("/v1/apps", headers=bob).status_code == 200


def test_given_one_token_spelled_twenty_ways_then_it_has_one_bucket(
    settings: Settings, store: Store
) -> None:
    # Given a limit of one request in 100 s in bursts of 5, and one token.
    token = tokens.create_token(store, None, "respelled")[1]
    spellings = [
        f"{scheme}{' ' * spaces}{token}{' ' * trailing}"
        for scheme in ("Bearer", "bearer", "BEARER", "bEaReR", "BeArEr")
        for spaces in (1, 2)
        for trailing in (0, 1)
    ]
    assert len(set(spellings)) == 20
    for client in _client(settings, store, rate_limit=0.01, rate_limit_burst=5, admin_token=None):
        # When it is sent 20 times, each spelled differently,
        statuses = [
            client.get("/v1/apps", headers={"Authorization": header}).status_code
            for header in spellings
        ]
    # then the token's one bucket lets its burst through, and no more.
    assert statuses.count(200) == 5, statuses
    assert statuses.count(429) == 15, statuses


def test_given_random_tokens_and_failed_logins_then_the_address_pays_for_them(
    settings: Settings, store: Store
) -> None:
    # Given a limit of one request in 100 s, in bursts of 5 (slow enough that no
    # token comes back while the test runs, however loaded the machine is).
    for client in _client(settings, store, rate_limit=0.01, rate_limit_burst=5, admin_token=None):
        # When one address sends 20 requests, each with a random token,
        guesses = [
            client.get(
                "/v1/apps", headers={"Authorization": f"Bearer pm_{n:012x}_{'x' * 40}"}
            ).status_code
            for n in range(20)
        ]
        # then after its burst it is refused, whatever token it sends next;
        assert guesses.count(401) <= 5 and guesses.count(429) >= 15, guesses
    for client in _client(settings, store, rate_limit=0.01, rate_limit_burst=5, admin_token=None):
        # and failed login guesses, each with a random Authorization header, fare no better.
        csrf_token = form_token(client)
        logins = [
            client.post(
                "/login",
                data={"token": f"guess-{n}", "csrf_token": csrf_token, "next": "/"},
                headers={"Authorization": f"Bearer random-{n}"},
            ).status_code
            for n in range(20)
        ]
        assert logins.count(401) <= 4 and logins.count(429) >= 15, logins


def test_given_rate_limit_zero_then_nothing_is_limited(settings: Settings, store: Store) -> None:
    for client in _client(settings, store, rate_limit=0, rate_limit_burst=1):
        assert {client.get("/v1/apps").status_code for _ in range(20)} == {200}


# -- body cap ----------------------------------------------------------------------------


@pytest.mark.usefixtures("defined")
def test_given_a_10_mb_body_when_enqueued_then_413_and_nothing_stored(
    client: TestClient, store: Store
) -> None:
    before = _executions(store)
    body = json.dumps({"application": "shop", "job": "mail", "message": "x" * 10_000_000})

    response = client.post(
        "/v2/job_executions", content=body, headers={"content-type": "application/json"}
    )

    _error(response, 413, str(MIN_BODY_BYTES))
    assert _executions(store) == before == 0


@pytest.mark.usefixtures("defined")
def test_given_a_chunked_body_past_the_cap_then_413_and_nothing_stored(
    client: TestClient, store: Store
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"application": "shop", "job": "mail", "message": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = client.post(
        "/v2/job_executions", content=chunks(), headers={"content-type": "application/json"}
    )

    assert "content-length" not in response.request.headers
    _error(response, 413, "larger than")
    assert _executions(store) == 0


@pytest.mark.usefixtures("defined")
def test_given_the_largest_message_escaped_as_ascii_then_the_body_cap_lets_it_through(
    client: TestClient, store: Store
) -> None:
    # Each é is 2 bytes of UTF-8 but 6 of \u00e9: the body is 3 times the message's size.
    message = "é" * ((MAX_MESSAGE_BYTES - 2) // 2)
    body = json.dumps({"application": "shop", "job": "mail", "message": message})
    assert len(body) > 3 * MAX_MESSAGE_BYTES - 100

    response = client.post(
        "/v2/job_executions", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 201, response.text
    assert _executions(store) == 1


def test_given_a_cap_below_the_largest_message_then_the_setting_is_refused(
    database_url: str,
) -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        Settings(database_url=database_url, max_body_bytes=MAX_MESSAGE_BYTES)


# -- security headers ------------------------------------------------------------------


CONSOLE_PATHS = ["/", "/job_definitions", "/job_queues", "/job_executions", "/monitors", "/nope"]


@pytest.mark.parametrize("path", [*CONSOLE_PATHS, "/v1/apps", "/v1/apps/ghost", "/openapi.json"])
def test_given_any_response_then_it_carries_the_security_headers(
    client: TestClient, path: str
) -> None:
    headers = client.get(path).headers

    policy = headers["Content-Security-Policy"]
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("path", CONSOLE_PATHS)
def test_given_a_console_page_then_nothing_in_it_is_inline(client: TestClient, path: str) -> None:
    html = client.get(path).text

    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html), "inline style attribute"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_given_the_api_docs_then_only_its_own_inline_script_and_files_may_run(
    client: TestClient, path: str
) -> None:
    response = client.get(path)

    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert len(inline) == (1 if path == "/docs" else 0)  # Swagger UI starts from one
    hashes = [
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in inline
    ]
    script_sources = next(d for d in policy.split("; ") if d.startswith("script-src"))
    assert script_sources.split() == ["script-src", "'self'", *hashes]
    assert "frame-ancestors 'none'" in policy
    assert "http" not in policy  # no other host: the pages work offline
    # Every file they load is served here, from the installed package
    for url in re.findall(r'(?:src|href)="(/[^"]+)"', response.text):
        assert client.get(url).status_code == 200, url


# -- hostile enqueue input -------------------------------------------------------------------

CONTAINER_OPTIONS: list[tuple[str, Any]] = [
    ("docker_image", "evil:latest"),
    ("image", "evil:latest"),
    ("privileged", True),
    ("mounts", ["/:/host"]),
    ("volumes", {"/": {"bind": "/host"}}),
    ("network", "host"),
    ("network_mode", "host"),
    ("environment", {"BARBEQUE_MESSAGE_ID": "forged"}),
    ("env", {"PITMASTER_APPLICATION": "other"}),
    ("BARBEQUE_JOB", "other"),
    ("command", ["sh", "-c", "cat /etc/shadow"]),
    ("cap_add", ["SYS_ADMIN"]),
    ("user", "root"),
]


@pytest.mark.parametrize(
    ("field", "value"), CONTAINER_OPTIONS, ids=[c[0] for c in CONTAINER_OPTIONS]
)
@pytest.mark.usefixtures("defined")
def test_given_a_message_setting_a_container_option_then_400_naming_it_and_nothing_stored(
    client: TestClient, store: Store, field: str, value: Any
) -> None:
    body = {"application": "shop", "job": "mail", "message": {"ok": 1}, field: value}

    response = client.post("/v2/job_executions", json=body)

    text = _error(response, 400, field, "job definition")
    assert text.startswith(field)
    assert _executions(store) == 0


@pytest.mark.usefixtures("defined")
def test_given_container_options_inside_the_message_then_they_are_only_data(
    client: TestClient, store: Store
) -> None:
    message = {"privileged": True, "environment": {"PITMASTER_X": "1"}, "image": "evil"}

    response = client.post(
        "/v2/job_executions", json={"application": "shop", "job": "mail", "message": message}
    )

    assert response.status_code == 201, response.text
    assert store.get_execution(response.json()["message_id"]).message == message


@pytest.mark.usefixtures("defined")
def test_given_an_unknown_field_on_another_body_then_400(client: TestClient) -> None:
    response = client.post(
        "/v1/apps/shop/job_definitions",
        json={"job": "j2", "command": ["true"], "privileged": True},
    )

    text = _error(response, 400, "privileged", "not a field")
    assert "message is data" not in text


# -- page sizes ---------------------------------------------------------------------------

LISTS = [
    "/v1/apps",
    "/v1/job_queues",
    "/v1/workers",
    "/v1/job_executions",
    "/v1/apps/shop/job_definitions",
]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.usefixtures("defined")
def test_given_a_page_larger_than_the_cap_then_422_naming_the_cap(
    client: TestClient, path: str
) -> None:
    _error(client.get(path, params={"limit": MAX_PAGE_SIZE + 1}), 422, "limit", str(MAX_PAGE_SIZE))
    _error(client.get(path, params={"limit": 0}), 422, "limit")
    assert client.get(path, params={"limit": MAX_PAGE_SIZE}).status_code == 200


def test_given_more_apps_than_a_page_then_pages_follow_each_other_by_link(
    client: TestClient, store: Store
) -> None:
    for name in ("a", "b", "c"):
        store.create_app(name, "i:1")

    first = client.get("/v1/apps", params={"limit": 2})
    second = client.get(first.links["next"]["url"])

    assert [app["name"] for app in first.json()] == ["a", "b"]
    assert [app["name"] for app in second.json()] == ["c"]
    assert "next" not in second.links


def test_given_a_page_too_large_then_the_store_refuses_it(store: Store) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        store.list_apps(limit=MAX_PAGE_SIZE + 1)
    with pytest.raises(InvalidInput, match="limit"):
        store.list_executions(ExecutionFilter(), limit=MAX_PAGE_SIZE + 1)


def test_given_more_apps_than_a_console_page_then_the_console_pages_them(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "NAMES_PAGE_SIZE", 2)
    for name in ("a", "b", "c"):
        store.create_app(name, "i:1")
        store.create_job_definition(name, "j", ["true"])
    log_in(client)

    first = client.get("/")
    assert ">b</a>" in first.text and ">c</a>" not in first.text
    second = client.get("/?after=b")
    assert ">c</a>" in second.text and ">a</a>" not in second.text
    assert 'href="/?after=b" rel="next"' in first.text

    definitions = client.get("/job_definitions?after=b/j").text
    assert "/job_definitions/c/j" in definitions and "/job_definitions/a/j" not in definitions


# -- text the database cannot hold ------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/apps/a%00b"),
        ("DELETE", "/v1/apps/a%00b"),
        ("GET", "/v1/job_queues/%00"),
        ("GET", "/v1/job_executions/%00"),
        ("POST", "/v1/job_executions/%00/cancel"),
        ("GET", "/v1/job_executions?job=%00"),
    ],
)
def test_given_nul_in_a_name_then_a_4xx_on_every_database(
    client: TestClient, method: str, path: str
) -> None:
    # SQLite looks the name up and finds nothing (404); PostgreSQL cannot hold it (422,
    # barbeque's 400 on barbeque's routes).
    response = client.request(method, path)

    _error(response, 422 if response.status_code in (400, 422) else 404)
