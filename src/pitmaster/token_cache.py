"""Tokens verified recently, so that a busy caller costs no database read per request.

A token found valid is trusted for ``ttl`` seconds from then, by the hash of
the token as presented. Revoking it therefore takes effect within ``ttl`` on
every server process (at once on the process that revoked it, which forgets
it); a token unknown, wrong or revoked is never kept, so it is looked up
every time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from pitmaster.auth import Caller

# Beyond this many tokens, the one verified longest ago is forgotten.
MAX_TOKENS = 10_000


class TokenCache:
    """Callers of tokens verified within the last ``ttl`` seconds; ``ttl`` 0 keeps none."""

    def __init__(
        self,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._max_tokens = max_tokens
        # token hash -> (caller, when it was verified); oldest first. A clock that
        # steps back does not stretch the trust: a verification "in the future" is stale.
        self._callers: OrderedDict[str, tuple[Caller, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> Caller | None:
        """The caller of a token verified less than ``ttl`` ago, else None."""
        with self._lock:
            found = self._callers.get(token_hash)
            if found is None:
                return None
            caller, verified_at = found
            if not 0 <= self._clock() - verified_at < self.ttl:
                del self._callers[token_hash]
                return None
            return caller

    def put(self, token_hash: str, caller: Caller) -> None:
        """Trust this token's caller for ``ttl`` seconds from now."""
        if self.ttl <= 0:
            return
        with self._lock:
            self._callers[token_hash] = (caller, self._clock())
            self._callers.move_to_end(token_hash)
            while len(self._callers) > self._max_tokens:
                self._callers.popitem(last=False)

    def forget(self, token_id: str) -> None:
        """Stop trusting the token with this id (it was revoked here)."""
        with self._lock:
            for token_hash in [h for h, (c, _) in self._callers.items() if c.token_id == token_id]:
                del self._callers[token_hash]

    def clear(self) -> None:
        """Trust no token until it is verified again (tokens were deleted here)."""
        with self._lock:
            self._callers.clear()
