"""Atomic policy reload: load → validate → build every dependent object → swap one reference.

:class:`PolicyRuntime` holds the current :class:`PolicySnapshot`. A request pins the snapshot it starts
with and finishes on it, whatever reloads happen meanwhile. A reload that fails anywhere — unreadable
file, invalid key, a participant (such as the TLS reloader) refusing — leaves the old snapshot serving;
the error is logged, counted, and shown by :meth:`PolicyRuntime.status` on the admin listener.
Triggers: :meth:`PolicyRuntime.watch` polls the file's mtime; SIGHUP and the admin endpoint call
:meth:`PolicyRuntime.reload`.

The runtime owns what it builds: the key-fetching clients and the rate-limit stores. A store a reload
replaces is retired (its Redis connections close once the requests still counting on it are done with
them); :meth:`PolicyRuntime.aclose` closes everything.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import structlog

from edge.api.routes import ROUTES, RouteTable
from edge.auth.keys import HttpJwksFetcher, KeyCache
from edge.auth.verifier import TokenVerifier
from edge.client_ip import IpNetwork
from edge.metrics import EdgeMetrics
from edge.policy import OAuthPolicy, Policy, RateLimitPolicy, load_policy
from edge.ratelimit import EdgeRateLimiter, RateLimitStore, open_store
from edge.tunnel.errors import ConfigError


@dataclass(frozen=True, slots=True)
class PolicySnapshot:
    """A validated policy and every object built from it; immutable, shared by in-flight requests."""

    policy: Policy
    verifier: TokenVerifier
    limiter: EdgeRateLimiter
    routes: RouteTable
    trusted_proxies: tuple[IpNetwork, ...]
    cors_origins: frozenset[str]
    digest: str


class PolicyParticipant(Protocol):
    """Something outside this module that must accept a policy before it applies (e.g. TLS certificates).

    ``prepare`` builds and validates everything without side effects, raising ``ConfigError`` to veto;
    the returned commit callable makes it live and must not fail.
    """

    def prepare(self, policy: Policy) -> Callable[[], None]: ...


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    applied: bool
    error: str | None


class PolicyRuntime:
    def __init__(
        self,
        *,
        path: Path,
        metrics: EdgeMetrics,
        participants: tuple[PolicyParticipant, ...] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._metrics = metrics
        self._participants = participants
        self._clock = clock
        self._lock = asyncio.Lock()
        self._snapshot: PolicySnapshot | None = None
        self._key_cache: tuple[tuple[Any, ...], KeyCache] | None = None
        self._storage: tuple[tuple[str, int], RateLimitStore] | None = None
        # Every key-fetching client ever built: one replaced by a reload may still serve an in-flight
        # request, so they are all closed only when the runtime closes.
        self._clients: list[httpx.AsyncClient] = []
        # Stores replaced by a reload, retired but closed for good only when the runtime closes (one per
        # reload that changed the storage settings: an operator's act, so the list stays short).
        self._retired_stores: list[RateLimitStore] = []
        self._file_stamp: tuple[int, int] | None = None
        self._loaded_at: float | None = None
        self._last_error: str | None = None
        self._last_attempt_at: float | None = None
        self._waiters: list[asyncio.Future[ReloadOutcome]] = []
        self._log = structlog.get_logger("fingress.edge.policy")

    @property
    def current(self) -> PolicySnapshot:
        """The snapshot new requests use. Valid after :meth:`start`."""
        if self._snapshot is None:
            raise RuntimeError("PolicyRuntime.start() has not run")
        return self._snapshot

    async def start(self) -> None:
        """Load the policy for the first time. Raises ``ConfigError``: an edge never starts without one."""
        outcome = await self.reload(trigger="start")
        if not outcome.applied:
            raise ConfigError(self._path.name, [("", outcome.error or "invalid")])

    async def reload(self, *, trigger: str = "admin") -> ReloadOutcome:
        """Load, validate and build a new snapshot; swap it in only if all of that succeeded."""
        outcome = await self._reload(trigger)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(outcome)
        return outcome

    def next_reload(self) -> asyncio.Future[ReloadOutcome]:
        """Resolves with the outcome of the next reload attempt, whatever triggers it."""
        waiter: asyncio.Future[ReloadOutcome] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return waiter

    async def _reload(self, trigger: str) -> ReloadOutcome:
        async with self._lock:
            self._last_attempt_at = self._clock()
            stamp = self._stat()
            try:
                policy = load_policy(self._path)
                snapshot, keys, storage = self._build(policy)
            except ConfigError as error:
                return self._reload_failed(trigger, stamp, error)
            try:
                commits = [participant.prepare(policy) for participant in self._participants]
            except ConfigError as error:
                if storage is not self._storage:
                    storage[1].retire()  # built for this reload and never used: nothing to wait for
                return self._reload_failed(trigger, stamp, error)
            for commit in commits:
                commit()
            if self._storage is not None and storage is not self._storage:
                # Requests that pinned the old snapshot may still count on the old store.
                self._storage[1].retire()
                self._retired_stores.append(self._storage[1])
            self._key_cache, self._storage = keys, storage
            self._snapshot = snapshot
            self._file_stamp = stamp
            self._loaded_at = self._clock()
            self._last_error = None
            self._metrics.policy_reloads.labels(outcome="applied").inc()
            self._log.info("policy_reloaded", trigger=trigger, digest=snapshot.digest)
            return ReloadOutcome(applied=True, error=None)

    def _reload_failed(
        self, trigger: str, stamp: tuple[int, int] | None, error: ConfigError
    ) -> ReloadOutcome:
        self._file_stamp = stamp
        self._last_error = str(error)
        self._metrics.policy_reloads.labels(outcome="failed").inc()
        self._log.error("policy_reload_failed", trigger=trigger, error=self._last_error)
        return ReloadOutcome(applied=False, error=self._last_error)

    async def watch(self, *, poll_s: float) -> None:
        """Reload whenever the file's mtime or size changes; runs until cancelled."""
        while True:
            await asyncio.sleep(poll_s)
            if self._stat() != self._file_stamp:
                await self.reload(trigger="file_changed")

    def status(self) -> dict[str, Any]:
        """What the admin listener shows: the live policy's digest and time, and the last error."""
        snapshot = self._snapshot
        return {
            "source": self._path.name,
            "digest": snapshot.digest if snapshot else None,
            "loaded_at": self._loaded_at,
            "last_attempt_at": self._last_attempt_at,
            "last_error": self._last_error,
            "healthy": self._last_error is None,
        }

    async def aclose(self) -> None:
        """Close what the runtime built: key-fetching clients and rate-limit stores (their Redis
        connections, in use or not: the edge has stopped serving). Safe to call again."""
        stores = self._retired_stores
        self._retired_stores = []
        if self._storage is not None:
            stores.append(self._storage[1])
            self._storage = None
        for store in stores:
            await store.aclose()  # never raises, so the clients below are closed too
        clients = list(self._clients)
        self._clients.clear()
        for client in clients:
            await client.aclose()

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = self._path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def _build(
        self, policy: Policy
    ) -> tuple[PolicySnapshot, tuple[Any, KeyCache], tuple[tuple[str, int], RateLimitStore]]:
        """Build everything a policy needs without touching the live state. The store is built after
        everything that can refuse the policy, so that a refusal leaves no new store behind."""
        routes = RouteTable(tuple(route for route in ROUTES if route.key in set(policy.http.allow)))
        keys = self._keys_for(policy.oauth)
        verifier = TokenVerifier(policy=policy.oauth, keys=keys[1])
        storage = self._storage_for(policy.rate_limits)
        limiter = EdgeRateLimiter(
            policy=policy.rate_limits,
            storage=storage[1].storage,
            on_rejected=lambda limit: self._metrics.rate_limited.labels(limit=limit.value).inc(),
        )
        snapshot = PolicySnapshot(
            policy=policy,
            verifier=verifier,
            limiter=limiter,
            routes=routes,
            trusted_proxies=tuple(
                ipaddress.ip_network(network, strict=False) for network in policy.http.trusted_proxies
            ),
            cors_origins=frozenset(policy.http.cors_origins),
            digest=hashlib.sha256(policy.model_dump_json().encode()).hexdigest()[:16],
        )
        return snapshot, keys, storage

    def _keys_for(self, oauth: OAuthPolicy) -> tuple[Any, KeyCache]:
        # Keep the cached keys (and their rate bound) while the key source is unchanged.
        identity = (
            oauth.issuer,
            oauth.jwks_url,
            oauth.discovery_url,
            oauth.ca_file,
            oauth.jwks_refresh_s,
            oauth.jwks_min_refetch_interval_s,
            oauth.jwks_fetch_timeout_s,
        )
        if self._key_cache is not None and self._key_cache[0] == identity:
            return self._key_cache
        client = httpx.AsyncClient(verify=_idp_tls_context(oauth.ca_file), follow_redirects=False)
        self._clients.append(client)
        keys = KeyCache(
            fetcher=HttpJwksFetcher(
                client=client,
                issuer=oauth.issuer,
                jwks_url=oauth.jwks_url,
                discovery_url=oauth.discovery_url,
                timeout_s=oauth.jwks_fetch_timeout_s,
            ),
            refresh_s=oauth.jwks_refresh_s,
            min_refetch_interval_s=oauth.jwks_min_refetch_interval_s,
            on_fetch=lambda outcome: self._metrics.jwks_fetches.labels(outcome=outcome).inc(),
        )
        return (identity, keys)

    def _storage_for(self, limits_policy: RateLimitPolicy) -> tuple[tuple[str, int], RateLimitStore]:
        # Counters (and Redis connections) survive a reload while the storage is unchanged; a new memory
        # store would reset them.
        identity = (limits_policy.storage_uri, limits_policy.redis_max_connections)
        if self._storage is not None and self._storage[0] == identity:
            return self._storage
        try:
            storage = open_store(limits_policy)
        except Exception as error:  # limits and redis raise assorted types for a bad URI
            raise ConfigError(
                "policy", [("rate_limits.storage_uri", f"unusable: {error.__class__.__name__}")]
            ) from error
        return (identity, storage)


def _idp_tls_context(ca_file: Path | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            "policy", [("oauth.ca_file", f"cannot load: {error.__class__.__name__}")]
        ) from error
