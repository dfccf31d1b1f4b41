"""The identity provider's signing keys: fetched from a JWKS URL or through OIDC discovery, cached, and
refetched when stale or when a token names an unknown ``kid`` — at most once per
``min_refetch_interval_s``, however many requests ask, so an unknown-kid storm cannot become a fetch storm.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx
import structlog
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey, import_key

from edge.tunnel.errors import ProtocolError

# Symmetric ("oct") keys are never accepted from a JWKS: they would turn a public document into a secret.
_ASYMMETRIC_KTY = frozenset({"RSA", "EC", "OKP"})
_MAX_JWKS_BYTES = 256 * 1024


class JwksFetcher(Protocol):
    async def fetch(self) -> Mapping[str, Any]:
        """The current JWKS document. Raises ``ProtocolError`` when it cannot be had."""


class HttpJwksFetcher:
    """Fetches the JWKS over HTTPS, from ``jwks_url`` or from the ``jwks_uri`` that OIDC discovery names."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        issuer: str,
        jwks_url: str | None = None,
        discovery_url: str | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self._client = client
        self._issuer = issuer
        self._jwks_url = jwks_url
        self._discovery_url = discovery_url
        self._timeout_s = timeout_s

    async def fetch(self) -> Mapping[str, Any]:
        jwks_url = self._jwks_url
        if jwks_url is None:
            assert self._discovery_url is not None
            discovery = await self._get_json(self._discovery_url)
            # Discovery is only trusted for the issuer we were configured with.
            if discovery.get("issuer") != self._issuer:
                raise ProtocolError("discovery_issuer_mismatch", "discovery names another issuer")
            found = discovery.get("jwks_uri")
            if not isinstance(found, str) or not found.startswith("https://"):
                raise ProtocolError("discovery_without_jwks", "discovery has no https jwks_uri")
            jwks_url = found
        return await self._get_json(jwks_url)

    async def _get_json(self, url: str) -> Mapping[str, Any]:
        try:
            response = await self._client.get(url, timeout=self._timeout_s)
        except httpx.HTTPError as error:
            raise ProtocolError("jwks_unreachable", error.__class__.__name__) from error
        if response.status_code != 200:
            raise ProtocolError("jwks_http_error", f"HTTP {response.status_code}")
        if len(response.content) > _MAX_JWKS_BYTES:
            raise ProtocolError("jwks_too_large")
        try:
            document = response.json()
        except ValueError as error:
            raise ProtocolError("jwks_not_json") from error
        if not isinstance(document, dict):
            raise ProtocolError("jwks_not_object")
        return document


def keys_from_jwks(document: Mapping[str, Any]) -> list[Key]:
    """The usable signature keys of a JWKS document; unusable or symmetric entries are skipped."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ProtocolError("jwks_without_keys")
    found: list[Key] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") not in _ASYMMETRIC_KTY:
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            key = import_key(entry)
        except (JoseError, ValueError, TypeError):
            continue
        if key.is_private:
            # A JWKS that publishes private keys is broken; use only its public half.
            key = import_key(key.as_dict(private=False))
        found.append(key)
    return found


class KeyCache:
    """Signature keys by ``kid``, refreshed every ``refresh_s`` and on demand at a bounded rate."""

    def __init__(
        self,
        *,
        fetcher: JwksFetcher,
        refresh_s: float,
        min_refetch_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_fetch: Callable[[str], None] | None = None,
    ) -> None:
        self._fetcher = fetcher
        self._refresh_s = refresh_s
        self._min_refetch_interval_s = min_refetch_interval_s
        self._clock = clock
        self._on_fetch = on_fetch
        self._keys: list[Key] = []
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self._log = structlog.get_logger("fingress.edge.auth")

    async def key_for(self, kid: str | None, kty: str) -> Key | None:
        """The key for ``kid`` of type ``kty``; refetches (rate-bounded) when it is not known.

        Raises ``ProtocolError`` only when no keys were ever fetched.
        """
        stale = self._fetched_at is None or self._clock() - self._fetched_at >= self._refresh_s
        key = None if stale else self._find(kid, kty)
        if key is None:
            await self._refresh()
            key = self._find(kid, kty)
        if key is None and self._fetched_at is None:
            raise ProtocolError("jwks_unavailable")
        return key

    def _find(self, kid: str | None, kty: str) -> Key | None:
        candidates = [key for key in self._keys if key.key_type == kty]
        if kid is None:
            # Without a kid, only an unambiguous key set may be used.
            return candidates[0] if len(candidates) == 1 else None
        for key in candidates:
            if key.kid == kid:
                return key
        return None

    async def _refresh(self) -> None:
        attempted_before = self._attempted_at
        async with self._lock:
            if self._attempted_at != attempted_before:
                return  # another request fetched while we waited: use its result
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self._min_refetch_interval_s:
                return
            self._attempted_at = now
            try:
                document = await self._fetcher.fetch()
                keys = keys_from_jwks(document)
            except ProtocolError as error:
                self._report("failed")
                self._log.warning("jwks_fetch_failed", reason=error.reason)
                return
            self._keys = keys
            self._fetched_at = now
            self._report("ok")

    def _report(self, outcome: str) -> None:
        if self._on_fetch is not None:
            self._on_fetch(outcome)


def key_type_for(algorithm: str) -> str:
    """The JWK ``kty`` an algorithm needs: tokens can never pick a key of another family."""
    if algorithm.startswith(("RS", "PS")):
        return RSAKey.key_type
    if algorithm.startswith("ES"):
        return ECKey.key_type
    return OKPKey.key_type
