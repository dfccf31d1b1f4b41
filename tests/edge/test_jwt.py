"""The JWT attack matrix against a running edge with a JWKS served over TLS: every forged or unfit token
is a 401 with ``WWW-Authenticate: Bearer error="invalid_token"`` and its own reason in /metrics."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from tests.edge.conftest import Edge, EdgeFactory


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)])


def _claims(edge: Edge, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": edge.idp.issuer, "aud": "fingress", "sub": "u", "finesse_id": "1001", "exp": now + 300}
    claims.update(overrides)
    return claims


def _hs256_with_public_key(edge: Edge) -> str:
    # The classic confusion: sign HS256 using the RSA public key (PEM) as the shared secret.
    secret = edge.idp.rsa.as_pem(private=False)
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(edge)).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _tampered(edge: Edge) -> str:
    header, _, signature = edge.idp.mint("1001").split(".")
    payload = _b64(json.dumps(_claims(edge, finesse_id="2002")).encode())
    return f"{header}.{payload}.{signature}"


ATTACKS: dict[str, Callable[[Edge], str]] = {
    "expired": lambda edge: edge.idp.mint(lifetime_s=-60),
    "not_yet_valid": lambda edge: edge.idp.mint(nbf=int(time.time()) + 600),
    "bad_issuer": lambda edge: edge.idp.mint(iss="https://evil.test/"),
    "bad_audience": lambda edge: edge.idp.mint(aud="someone-else"),
    "bad_algorithm": lambda edge: _unsigned({"alg": "none", "typ": "JWT"}, _claims(edge)),
    "bad_signature": _tampered,
    "unknown_kid": lambda edge: edge.idp.mint(key=RSAKey.generate_key(2048, parameters={"kid": "rogue"})),
    "malformed": lambda edge: "not.a.jwt",
    "missing_scope": lambda edge: edge.idp.mint(scope="openid"),
    "missing_claim": lambda edge: edge.idp.mint(finesse_id=None),
}


@pytest.fixture
async def strict_edge(make_edge: EdgeFactory) -> Edge:
    edge: Edge = await make_edge(oauth={"required_scope": "finesse.agent"})
    return edge


async def test_every_attack_is_refused_with_its_own_reason(strict_edge: Edge) -> None:
    edge = strict_edge
    for reason, forge in sorted(ATTACKS.items()):
        token = forge(edge)
        async with asyncio.timeout(10):
            response = await edge.client.get("/api/v1/agent", headers={"authorization": f"Bearer {token}"})
            assert response.status_code == 401, (reason, response.text)
            assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "invalid_token"
            assert response.json()["reason"] == reason
            assert await edge.metric("fingress_edge_auth_failures_total", reason=reason) == 1, reason
    assert edge.upstream.requests == []


async def test_hs256_signed_with_the_public_key_is_refused(strict_edge: Edge) -> None:
    edge = strict_edge
    async with asyncio.timeout(10):
        response = await edge.client.get(
            "/api/v1/agent", headers={"authorization": f"Bearer {_hs256_with_public_key(edge)}"}
        )
        assert response.status_code == 401
        assert response.json()["reason"] == "bad_algorithm"
        assert await edge.metric("fingress_edge_auth_failures_total", reason="bad_algorithm") == 1


async def test_missing_or_garbage_credentials_are_401(edge: Edge) -> None:
    garbage = [
        ("", "missing"),
        ("Basic dXNlcjpwYXNz", "missing"),
        ("Bearer", "missing"),
        ("bearer " + "A" * 7000, "malformed"),
        ("Bearer a.b.c", "malformed"),
        ("Bearer ..", "malformed"),
        ("Bearer e30.e30.e30", "bad_algorithm"),  # header {} names no algorithm
        ("Bearer " + _b64(b"[1]") + ".e30.e30", "malformed"),
    ]
    for header, reason in garbage:
        headers = {"authorization": header} if header else {}
        async with asyncio.timeout(10):
            response = await edge.client.get("/api/v1/dialogs", headers=headers)
        assert response.status_code == 401, header
        assert response.json()["reason"] == reason, header


async def test_valid_tokens_with_either_key_type_pass(edge: Edge) -> None:
    async with asyncio.timeout(10):
        rsa = await edge.client.get("/api/v1/agent", headers={"authorization": f"Bearer {edge.idp.mint()}"})
        ec = await edge.client.get(
            "/api/v1/agent", headers={"authorization": f"Bearer {edge.idp.mint(alg='ES256')}"}
        )
    assert (rsa.status_code, ec.status_code) == (200, 200)


async def test_es256_header_cannot_select_the_rsa_key(edge: Edge) -> None:
    # Key type follows the algorithm: an ES256 token naming the RSA key's kid finds no key.
    token = edge.idp.mint(alg="ES256", header={"kid": "rsa-1"})
    async with asyncio.timeout(10):
        response = await edge.client.get("/api/v1/agent", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["reason"] == "unknown_kid"


async def test_unknown_kid_storm_fetches_keys_a_bounded_number_of_times(edge: Edge) -> None:
    rogue = RSAKey.generate_key(2048, parameters={"kid": "rogue"})
    tokens = [edge.idp.mint(key=rogue, jti=str(n)) for n in range(50)]
    async with asyncio.timeout(20):
        responses = await asyncio.gather(
            *(edge.client.get("/api/v1/agent", headers={"authorization": f"Bearer {t}"}) for t in tokens)
        )
        assert {response.status_code for response in responses} == {401}
        # One fetch to learn the keys at all; the storm itself adds none inside the refetch interval.
        assert edge.idp.jwks_fetches == 1
        assert await edge.metric("fingress_edge_jwks_fetches_total", outcome="ok") == 1
        assert await edge.metric("fingress_edge_auth_failures_total", reason="unknown_kid") == 50


async def test_new_key_is_picked_up_on_unknown_kid(make_edge: EdgeFactory) -> None:
    edge: Edge = await make_edge(oauth={"jwks_min_refetch_interval_s": 0})
    rotated = RSAKey.generate_key(2048, parameters={"kid": "rsa-2"})
    async with asyncio.timeout(10):
        assert (await edge.client.get("/api/v1/agent", headers=edge.auth())).status_code == 200
        edge.idp.published.append(rotated)
        token = edge.idp.mint(key=rotated)
        response = await edge.client.get("/api/v1/agent", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert edge.idp.jwks_fetches == 2


async def test_keys_through_oidc_discovery(make_edge: EdgeFactory, idp: Any) -> None:
    discovery = f"{idp.base_url}/.well-known/openid-configuration"
    edge: Edge = await make_edge(oauth={"jwks_url": None, "discovery_url": discovery})
    async with asyncio.timeout(10):
        response = await edge.client.get("/api/v1/agent", headers=edge.auth())
    assert response.status_code == 200


async def test_unreachable_keys_are_503_not_401(make_edge: EdgeFactory) -> None:
    edge: Edge = await make_edge(
        oauth={"jwks_url": "https://127.0.0.1:1/jwks.json", "jwks_fetch_timeout_s": 2}
    )
    async with asyncio.timeout(10):
        response = await edge.client.get("/api/v1/agent", headers=edge.auth())
    assert response.status_code == 503
    assert response.json()["code"] == "keys_unavailable"


async def test_verified_tokens_are_cached_until_they_expire(edge: Edge) -> None:
    headers = edge.auth(lifetime_s=300)
    async with asyncio.timeout(10):
        for _ in range(5):
            assert (await edge.client.get("/api/v1/agent", headers=headers)).status_code == 200
    assert edge.idp.jwks_fetches == 1
