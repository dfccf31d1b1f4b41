"""Rate limits with the ``limits`` package: per client IP, per agent, and a stricter one for sign-in.

Storage is ``memory://`` (one edge) or ``redis://`` (several edges sharing counters). Keys carry the
strategy name, because ``limits`` does not, and two strategies on one Redis would otherwise collide.
When the storage fails the request is let through and the failure logged: an outage of the counter
store must not become an outage of the contact center.

A Redis store holds a connection pool the edge built, so the edge closes it: :class:`RateLimitStore`
is the store together with that pool. ``retire`` it when a reload replaces it (its connections close as
soon as no command is using them), ``aclose`` it when the edge stops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

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
from redis.asyncio.connection import AbstractConnection

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


class RetirablePool(BlockingConnectionPool):
    """A blocking pool that can be retired: from then on it keeps no connection open while no command is
    using one. Idle connections close at once; one in use closes after its command, together with the
    rest, when the last command running on the pool returns its connection. A command that still comes
    (a request that pinned the old policy snapshot) opens a connection again, closed the same way.

    Why no timer: a request can reach its rate-limit check long after a reload (a key fetch, a slow
    Redis), so no grace delay is long enough to be sure. Counting the commands in flight is exact: a
    close starts only when none is, and a command arriving during a close waits for it to finish, so
    nothing is cut off mid-command and nothing reopened is left open."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._retired = False
        # Commands between get_connection and release, counted from the moment they ask.
        self._borrowers = 0
        # The connections handed out, so that a release is counted once, whoever calls it: the parent's
        # get_connection releases a connection it could not connect before raising.
        self._lent: set[AbstractConnection] = set()
        self._closing: asyncio.Task[None] | None = None
        self._log = structlog.get_logger("fingress.edge.ratelimit")

    async def get_connection(self, *args: Any, **options: Any) -> AbstractConnection:
        self._borrowers += 1  # before any await: from here on no close can start
        try:
            while self._closing is not None:
                await asyncio.wait((self._closing,))
            # redis-py leaves get_connection unannotated.
            connection: AbstractConnection = await super().get_connection(*args, **options)  # type: ignore[no-untyped-call]
        except BaseException:
            self._returned()
            raise
        self._lent.add(connection)
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        try:
            await super().release(connection)
        finally:
            if connection in self._lent:
                self._lent.discard(connection)
                self._returned()

    def retire(self) -> None:
        """No new request will use this pool: close its connections as soon as no command is using them."""
        self._retired = True
        self._close_if_unused()

    async def aclose(self) -> None:
        """Close every connection now, in use or not (the edge has stopped serving); retires the pool.
        Never raises: a failure is logged."""
        self._retired = True
        while self._closing is not None:
            await asyncio.wait((self._closing,))
        self._closing = asyncio.get_running_loop().create_task(self._close(in_use_too=True))
        await asyncio.wait((self._closing,))

    def _returned(self) -> None:
        self._borrowers -= 1
        self._close_if_unused()

    def _close_if_unused(self) -> None:
        if self._retired and self._borrowers == 0 and self._closing is None:
            # A task of its own: the request whose release triggers the close neither waits for it nor,
            # if cancelled, interrupts it halfway.
            self._closing = asyncio.get_running_loop().create_task(self._close(in_use_too=False))

    async def _close(self, *, in_use_too: bool) -> None:
        try:
            await self.disconnect(inuse_connections=in_use_too)
        except Exception as error:
            # The class name only: the error's text may carry the URI, and the URI may carry a password.
            self._log.warning("rate_limit_store_close_failed", error=error.__class__.__name__)
        finally:
            self._closing = None


class RateLimitStore:
    """The counter store a policy names, and the connection pool behind it when it is Redis (the memory
    store holds nothing that needs closing)."""

    __slots__ = ("_pool", "storage")

    def __init__(self, *, storage: Storage, pool: RetirablePool | None = None) -> None:
        self.storage = storage
        self._pool = pool

    def retire(self) -> None:
        """A reload replaced this store: its connections close once the requests still counting on it
        are done with them."""
        if self._pool is not None:
            self._pool.retire()

    async def aclose(self) -> None:
        """Close its connections now (the edge has stopped). Never raises: a failure is logged."""
        if self._pool is not None:
            await self._pool.aclose()


def open_store(policy: RateLimitPolicy) -> RateLimitStore:
    """The counter store the policy names. Memory is our own store, whose expiry does not walk every key
    on every hit as limits' does. Redis goes through redis-py with a blocking pool, because the default
    pool raises when exhausted under load. Opens no connection yet."""
    uri = policy.storage_uri
    if uri.startswith("memory://"):
        return RateLimitStore(storage=MemoryRateLimitStorage())
    pool = RetirablePool.from_url(uri, max_connections=policy.redis_max_connections, timeout=2)
    # limits types its options as scalars, but passes connection_pool through to redis-py. limits'
    # RedisStorage owns nothing else that needs closing: its redis-py client was given the pool, so it
    # neither closes the pool nor holds a connection of its own.
    storage = RedisStorage(f"async+{uri}", implementation="redispy", connection_pool=pool)  # type: ignore[arg-type]
    return RateLimitStore(storage=storage, pool=pool)


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
