"""The edge's pure parts with fake clocks: tickets, the token cache, the key cache's fetch bound, the
verifier's claim checks, and the static configuration."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from edge.auth.failures import AuthFailure, InvalidToken, KeysUnavailable
from edge.auth.keys import KeyCache
from edge.auth.token_cache import TokenCache
from edge.auth.verifier import TokenVerifier
from edge.config import load_config
from edge.events.tickets import TicketStore
from edge.policy import OAuthPolicy
from edge.tunnel.errors import ConfigError, ProtocolError
from edge.tunnel.messages import AgentId, Principal


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def principal(agent: str = "1001") -> Principal:
    return Principal(agent_id=AgentId(agent), subject=agent)


def test_ticket_is_one_time_and_expires() -> None:
    clock = Clock()
    store = TicketStore(max_tickets=10, clock=clock)
    first = store.issue(principal(), ttl_s=30)
    assert store.redeem(first) == principal()
    assert store.redeem(first) is None
    late = store.issue(principal(), ttl_s=30)
    clock.now += 30
    assert store.redeem(late) is None
    assert store.redeem("never-issued") is None


def test_ticket_store_is_bounded_and_purges_expired() -> None:
    clock = Clock()
    store = TicketStore(max_tickets=3, clock=clock)
    tickets = [store.issue(principal(str(n)), ttl_s=30) for n in range(5)]
    assert len(store) == 3
    assert store.redeem(tickets[0]) is None  # the oldest were dropped
    assert store.redeem(tickets[4]) == principal("4")
    clock.now += 31
    store.issue(principal(), ttl_s=30)
    assert len(store) == 1
    for _ in range(3):
        store.issue(principal(), ttl_s=30, max_tickets=2)
    assert len(store) == 2


def test_token_cache_honours_expiry_and_size() -> None:
    clock = Clock()
    cache = TokenCache(max_entries=2, clock=clock)
    cache.put("a", principal("a"), expires_at=clock.now + 10)
    cache.put("b", principal("b"), expires_at=clock.now + 100)
    assert cache.get("a") == principal("a")
    cache.put("c", principal("c"), expires_at=clock.now + 100)
    assert cache.get("b") is None  # least recently used went first
    clock.now += 10
    assert cache.get("a") is None
    assert cache.get("c") == principal("c")


class CountingFetcher:
    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.fetches = 0
        self.fail = False

    async def fetch(self) -> Mapping[str, Any]:
        self.fetches += 1
        await asyncio.sleep(0)
        if self.fail:
            raise ProtocolError("jwks_unreachable")
        return {"keys": self.keys}


async def test_key_cache_bounds_refetches_per_interval() -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    clock = Clock()
    fetcher = CountingFetcher([key.as_dict(private=False)])
    cache = KeyCache(fetcher=fetcher, refresh_s=3600, min_refetch_interval_s=30, clock=clock)
    results = await asyncio.gather(*(cache.key_for(f"unknown-{n}", "RSA") for n in range(100)))
    assert results == [None] * 100
    assert fetcher.fetches == 1
    clock.now += 30
    await asyncio.gather(*(cache.key_for("unknown", "RSA") for _ in range(100)))
    assert fetcher.fetches == 2
    assert await cache.key_for("k1", "RSA") is not None
    assert await cache.key_for("k1", "EC") is None
    assert fetcher.fetches == 2


async def test_key_cache_keeps_old_keys_when_a_refresh_fails() -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    clock = Clock()
    fetcher = CountingFetcher([key.as_dict(private=False), {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"}])
    cache = KeyCache(fetcher=fetcher, refresh_s=60, min_refetch_interval_s=0, clock=clock)
    assert await cache.key_for("k1", "RSA") is not None
    assert await cache.key_for("sym", "oct") is None  # symmetric keys are never taken from a JWKS
    fetcher.fail = True
    clock.now += 61
    assert await cache.key_for("k1", "RSA") is not None


async def test_key_cache_without_any_keys_raises() -> None:
    fetcher = CountingFetcher([])
    fetcher.fail = True
    cache = KeyCache(fetcher=fetcher, refresh_s=60, min_refetch_interval_s=0, clock=Clock())
    with pytest.raises(ProtocolError):
        await cache.key_for("k1", "RSA")


class FixedKeys:
    def __init__(self, key: RSAKey | None) -> None:
        self.key = key

    async def key_for(self, kid: str | None, kty: str) -> RSAKey | None:
        return self.key


def make_verifier(clock: Clock, key: RSAKey, **policy: Any) -> TokenVerifier:
    oauth = OAuthPolicy(
        issuer="https://idp/", audience="fingress", jwks_url="https://idp/jwks", leeway_s=30, **policy
    )
    return TokenVerifier(policy=oauth, keys=FixedKeys(key), clock=clock)  # type: ignore[arg-type]


def mint(key: RSAKey, **claims: Any) -> str:
    payload = {"iss": "https://idp/", "aud": ["other", "fingress"], "sub": "1001", "exp": 1_000_100}
    payload.update(claims)
    return jwt.encode({"alg": "RS256", "kid": "k1"}, {k: v for k, v in payload.items() if v is not None}, key)


@pytest.fixture(scope="module")
def rsa() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1"})


async def test_leeway_is_bounded(rsa: RSAKey) -> None:
    clock = Clock(1_000_000)
    verifier = make_verifier(clock, rsa)
    within = await verifier.verify(mint(rsa, exp=1_000_000 - 29))
    assert within.agent_id == "1001"
    assert within.token_expires_at == 1_000_000 - 29
    with pytest.raises(InvalidToken) as expired:
        await verifier.verify(mint(rsa, exp=1_000_000 - 31))
    assert expired.value.reason is AuthFailure.EXPIRED
    with pytest.raises(InvalidToken) as early:
        await verifier.verify(mint(rsa, nbf=1_000_000 + 31))
    assert early.value.reason is AuthFailure.NOT_YET_VALID


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": None}, AuthFailure.MISSING_CLAIM),
        ({"exp": "tomorrow"}, AuthFailure.MISSING_CLAIM),
        ({"iss": None}, AuthFailure.BAD_ISSUER),
        ({"aud": None}, AuthFailure.BAD_AUDIENCE),
        ({"aud": ["other"]}, AuthFailure.BAD_AUDIENCE),
        ({"sub": "bad id with spaces"}, AuthFailure.MISSING_CLAIM),
        ({"sub": 12345}, AuthFailure.MALFORMED),
    ],
)
async def test_claim_failures(rsa: RSAKey, claims: dict[str, Any], reason: AuthFailure) -> None:
    verifier = make_verifier(Clock(), rsa)
    with pytest.raises(InvalidToken) as refused:
        await verifier.verify(mint(rsa, **claims))
    assert refused.value.reason is reason


async def test_scope_from_scp_list_and_numeric_agent_claim(rsa: RSAKey) -> None:
    verifier = make_verifier(Clock(), rsa, required_scope="agent", agent_id_claim="finesse_id")
    verified = await verifier.verify(mint(rsa, scp=["agent"], finesse_id=1001))
    assert verified.agent_id == "1001"
    assert verified.scopes == ("agent",)


async def test_unfetchable_keys_are_unavailable_not_unauthorized(rsa: RSAKey) -> None:
    class NoKeys:
        async def key_for(self, kid: str | None, kty: str) -> None:
            raise ProtocolError("jwks_unavailable")

    oauth = OAuthPolicy(issuer="https://idp/", audience="fingress", jwks_url="https://idp/jwks")
    verifier = TokenVerifier(policy=oauth, keys=NoKeys(), clock=time.time)  # type: ignore[arg-type]
    with pytest.raises(KeysUnavailable):
        await verifier.verify(mint(rsa))


def test_config_resolves_paths_and_refuses_a_public_admin_listener(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(
        'policy_file = "policy.toml"\n[public]\nport = 8443\n'
        '[tunnel]\ncert_file = "e.pem"\nkey_file = "e.key"\nclient_ca_file = "ca.pem"\n'
        'allowed_identities = ["c1"]\n'
    )
    assert load_config(path).policy_file == tmp_path / "policy.toml"
    path.write_text(
        'policy_file = "p.toml"\n[admin]\nhost = "0.0.0.0"\n[public]\nport = 70000\nsurprise = 1\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "edge.toml: admin: admin.host must be a loopback address" in message
    assert "edge.toml: public.port:" in message
    assert "edge.toml: public.surprise:" in message


def test_no_route_takes_an_agent_id_from_the_request() -> None:
    import re

    from edge.api.routes import ROUTES

    identity = re.compile(r"agent_?id|user|login|^id$|^sub$|subject|principal", re.I)
    for route in ROUTES:
        assert not identity.search(route.path), route.path
        for model in (route.body, route.query):
            if model is not None:
                assert not [name for name in model.model_fields if identity.search(name)], model
