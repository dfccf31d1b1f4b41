"""A bounded LRU of verified tokens, keyed by the token's SHA-256 so no token is kept in memory twice.

An entry is served only until the token's own ``exp``: caching never extends a token's life.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable

from edge.tunnel.messages import Principal


class TokenCache:
    def __init__(self, *, max_entries: int, clock: Callable[[], float]) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> Principal | None:
        key = self._key(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        principal, expires_at = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return principal

    def put(self, token: str, principal: Principal, *, expires_at: float) -> None:
        if self._max_entries == 0:
            return
        key = self._key(token)
        self._entries[key] = (principal, expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
