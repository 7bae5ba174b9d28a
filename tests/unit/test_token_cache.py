"""The cache of verified tokens: trusted for its time, never longer, never when refused."""

from __future__ import annotations

from pitmaster.auth import Caller
from pitmaster.models import TokenKind
from pitmaster.token_cache import TokenCache

SHOP = Caller(kind=TokenKind.APP, app="shop", token_id="aaaaaaaaaaaa", app_id=1)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_given_a_verified_token_then_trusted_until_its_time_runs_out() -> None:
    clock = Clock()
    cache = TokenCache(5, clock=clock)
    cache.put("h", SHOP)

    clock.now += 4.9
    trusted = cache.get("h")
    clock.now += 0.1
    expired = cache.get("h")

    assert (trusted, expired) == (SHOP, None)


def test_given_a_clock_that_steps_back_then_the_token_is_not_trusted() -> None:
    clock = Clock()
    cache = TokenCache(5, clock=clock)
    cache.put("h", SHOP)
    clock.now -= 60

    assert cache.get("h") is None


def test_given_a_revoked_or_deleted_token_then_forgotten_at_once() -> None:
    cache = TokenCache(5)
    cache.put("h", SHOP)
    cache.put("other", Caller(kind=TokenKind.ADMIN, token_id="bbbbbbbbbbbb"))

    cache.forget(SHOP.token_id or "")
    after_revoke = (cache.get("h"), cache.get("other") is not None)
    cache.clear()

    assert after_revoke == (None, True)
    assert cache.get("other") is None


def test_given_no_cache_time_then_nothing_is_kept() -> None:
    cache = TokenCache(0)
    cache.put("h", SHOP)

    assert cache.get("h") is None


def test_given_more_tokens_than_it_keeps_then_the_oldest_goes() -> None:
    cache = TokenCache(5, max_tokens=2)
    for name in ("a", "b", "c"):
        cache.put(name, SHOP)

    assert [cache.get(name) is not None for name in ("a", "b", "c")] == [False, True, True]
