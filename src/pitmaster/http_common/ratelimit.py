"""Rate limits per caller: a token bucket each, kept in this process's memory.

A caller is an API token this process has verified (only a hash of it is
kept), or else its address: a request without a token, with a token not (yet)
verified, and every failed authentication count against the address, so
neither re-spelling a token's header nor sending random tokens gets a fresh
bucket. The limit is per server process: N processes behind a load balancer
let a caller make up to N times as many requests.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import Scope

from pitmaster.auth import bearer_token, hash_token

# Beyond this many callers seen recently, the one seen longest ago is forgotten.
MAX_CALLERS = 10_000


@dataclass
class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` a second; a request takes one.

    Pure: the time is passed in, so tests move it by hand.
    """

    rate: float
    burst: int
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, burst: int, now: float) -> TokenBucket:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a bucket needs a positive rate and burst, not {rate}, {burst}")
        return cls(rate=rate, burst=burst, tokens=float(burst), updated=now)

    def take(self, now: float) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there will be one."""
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def is_full(self, now: float) -> bool:
        """Whether the bucket would be full by ``now``: it is then the same as a new one."""
        return self.tokens + (now - self.updated) * self.rate >= self.burst

    def _refill(self, now: float) -> None:
        # A clock that steps back (it should not: monotonic) adds nothing.
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)


class RateLimiter:
    """A token bucket per caller, forgetting callers whose buckets have filled up again."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_callers: int = MAX_CALLERS,
    ) -> None:
        TokenBucket.full(rate, burst, 0.0)  # refuses a rate or burst that cannot work
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_callers = max_callers
        # Least recently seen first.
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        # Hashes of tokens that authenticated here, least recently verified first.
        self._verified: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def verified(self, token_hash: str) -> None:
        """A token authenticated: from now on its requests have a bucket of their own.

        The request that verified it went through on its address's bucket; it
        is counted against the token's too, so a token gets its burst, not one more.
        """
        with self._lock:
            known = token_hash in self._verified
            self._verified[token_hash] = None
            self._verified.move_to_end(token_hash)
            if len(self._verified) > self._max_callers:
                self._verified.popitem(last=False)
        if not known:
            self.take(f"token:{token_hash}")

    def refused(self, token_hash: str, address: str) -> None:
        """A token failed to authenticate: it is no longer trusted, and its address pays."""
        with self._lock:
            self._verified.pop(token_hash, None)
        self.take(f"address:{address}")

    def caller_of(self, scope: Scope) -> str:
        """Who this request counts against: its token, if verified here, else its address."""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                token = bearer_token(value.decode("latin-1"))
                if token is not None:
                    token_hash = hash_token(token)
                    with self._lock:
                        if token_hash in self._verified:
                            return f"token:{token_hash}"
                break
        return f"address:{client_address(scope)}"

    def take(self, caller: str) -> float:
        """A request by ``caller``: 0.0 if it may go ahead, else seconds until it may."""
        now = self._clock()
        with self._lock:
            self._forget_idle(now)
            bucket = self._buckets.get(caller)
            if bucket is None:
                bucket = TokenBucket.full(self.rate, self.burst, now)
                self._buckets[caller] = bucket
                if len(self._buckets) > self._max_callers:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(caller)
            return bucket.take(now)

    def __len__(self) -> int:
        return len(self._buckets)

    def _forget_idle(self, now: float) -> None:
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if not oldest.is_full(now):
                return
            self._buckets.popitem(last=False)


def client_address(scope: Scope) -> str:
    """The client's address (the proxy's, unless uvicorn trusts it to forward the client's)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
