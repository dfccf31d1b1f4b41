"""Rate limits with the ``limits`` package: per client IP, per agent, and a stricter one for sign-in.

Storage is ``memory://`` (one edge) or ``redis://`` (several edges sharing counters). Keys carry the
strategy name, because ``limits`` does not, and two strategies on one Redis would otherwise collide.
When the storage fails the request is let through and the failure logged: an outage of the counter
store must not become an outage of the contact center.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage, Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from redis.asyncio import BlockingConnectionPool

from edge.policy import RateLimitPolicy
from edge.ratelimit_memory import MemoryRateLimitStorage
from edge.tunnel.errors import RateLimited

_STRATEGIES: dict[str, type[RateLimiter]] = {
    "fixed-window": FixedWindowRateLimiter,
    "moving-window": MovingWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
}


class Limit(StrEnum):
    PER_IP = "per_ip"
    PER_AGENT = "per_agent"
    SIGN_IN = "sign_in"


def build_storage(policy: RateLimitPolicy) -> Storage:
    """The counter store the policy names. Memory is our own store, whose expiry does not walk every key
    on every hit as limits' does. Redis goes through redis-py with a blocking pool, because the default
    pool raises when exhausted under load."""
    uri = policy.storage_uri
    if uri.startswith("memory://"):
        return MemoryRateLimitStorage()
    pool = BlockingConnectionPool.from_url(uri, max_connections=policy.redis_max_connections, timeout=2)
    # limits types its options as scalars, but passes connection_pool through to redis-py.
    return RedisStorage(f"async+{uri}", implementation="redispy", connection_pool=pool)  # type: ignore[arg-type]


class EdgeRateLimiter:
    """Applies the policy's limits. ``storage`` is shared across reloads while its URI is unchanged."""

    def __init__(
        self,
        *,
        policy: RateLimitPolicy,
        storage: Storage,
        on_rejected: Callable[[Limit], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limiter = _STRATEGIES[policy.strategy](storage)
        self._namespace = f"fingress:{policy.strategy}"
        self._items: dict[Limit, RateLimitItem] = {
            Limit.PER_IP: parse(policy.per_ip),
            Limit.PER_AGENT: parse(policy.per_agent),
            Limit.SIGN_IN: parse(policy.sign_in),
        }
        self._on_rejected = on_rejected
        self._clock = clock
        self._log = structlog.get_logger("fingress.edge.ratelimit")

    async def check(self, limit: Limit, identity: str) -> None:
        """Count one hit for ``identity`` under ``limit``. Raises ``RateLimited`` with ``retry_after_s``."""
        item = self._items[limit]
        try:
            allowed = await self._limiter.hit(item, self._namespace, limit.value, identity)
            if allowed:
                return
            stats = await self._limiter.get_window_stats(item, self._namespace, limit.value, identity)
        except Exception as error:  # any storage failure: fail open, loudly
            self._log.warning("rate_limit_storage_failed", limit=limit.value, error=error.__class__.__name__)
            return
        if self._on_rejected is not None:
            self._on_rejected(limit)
        retry_after_s = max(1.0, stats.reset_time - self._clock())
        raise RateLimited(
            "rate_limited", f"Too many requests ({limit.value}); retry later.", retry_after_s=retry_after_s
        )
