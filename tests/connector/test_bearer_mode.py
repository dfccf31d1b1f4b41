"""Finesse ``bearer`` auth mode end to end (issue 3, "Agent sessions"): the caller's verified token, as
the edge forwards it, is what the connector uses against Finesse; a newer token replaces the held one,
for requests and for background work (an XMPP reconnect); a refused token is a clear 401, sent once.

The emulator verifies bearer JWTs (HS256 with a key file, no leeway) on its REST API; the XMPP seam
(:class:`~tests.connector.hublink.HubLinkFactory`) checks a token given as the SASL password with the
emulator's own verifier. Whether the edge forwards the token at all is policy ``forward_token``:
``tests/edge/test_routes.py::test_bearer_token_forwarded_only_when_policy_says_so``.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from connector.finesse.client import build_http_client
from fingress.emulator.config import BearerSettings
from fingress.emulator.credentials import BearerVerifier
from fingress.emulator.server import EmulatorServer
from tests.connector.conftest import Harness, eventually, make_harness, of_type, start_emulator
from tests.connector.hublink import HubLinkFactory
from tests.support.timing import seconds

AGENT = "1003"


class TokenIssuer:
    """The identity provider Finesse trusts, reduced to what the test needs: HS256 tokens."""

    def __init__(self, key: bytes) -> None:
        self._key = OctKey.import_key(key)

    def mint(self, agent_id: str = AGENT, *, lifetime_s: float = 600) -> str:
        # Rounded up: a token minted to live a second must not expire within milliseconds.
        claims = {"sub": agent_id, "exp": math.ceil(time.time() + lifetime_s)}
        return jwt.encode({"alg": "HS256"}, claims, self._key)


class FinesseTraffic:
    """Counts the requests that reach Finesse with each bearer token (an httpx request hook)."""

    def __init__(self) -> None:
        self.by_token: dict[str, int] = {}

    async def record(self, request: httpx.Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        assert scheme == "Bearer", "bearer mode never sends a password"
        self.by_token[token] = self.by_token.get(token, 0) + 1


@pytest.fixture
def hmac_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "finesse-sso.key"
    # A text key, as an admin writes one: the emulator strips surrounding whitespace (a trailing newline),
    # so random bytes would fail whenever they happen to begin or end with a whitespace byte.
    path.write_text(secrets.token_urlsafe(32) + "\n", encoding="ascii")
    return path


@pytest.fixture
def bearer_settings(hmac_key_file: Path) -> BearerSettings:
    return BearerSettings(enabled=True, hmac_key_file=hmac_key_file, algorithms=("HS256",), leeway_s=0)


@pytest.fixture
async def sso_emulator(
    server_ssl_context: ssl.SSLContext, bearer_settings: BearerSettings
) -> AsyncIterator[EmulatorServer]:
    async for server in start_emulator(server_ssl_context, bearer=bearer_settings):
        yield server


class SsoSetup:
    """A harness in bearer mode plus what the test observes: Finesse traffic and XMPP link tokens."""

    def __init__(
        self, harness: Harness, issuer: TokenIssuer, links: HubLinkFactory, traffic: FinesseTraffic
    ) -> None:
        self.harness = harness
        self.issuer = issuer
        self.links = links
        self.traffic = traffic


@pytest.fixture
async def sso(
    sso_emulator: EmulatorServer,
    client_ssl_context: ssl.SSLContext,
    bearer_settings: BearerSettings,
    hmac_key_file: Path,
) -> AsyncIterator[SsoSetup]:
    verifier = BearerVerifier.from_settings(bearer_settings)
    links = HubLinkFactory(sso_emulator, bearer=verifier)
    traffic = FinesseTraffic()
    async with build_http_client(ssl_context=client_ssl_context, timeout_s=seconds(5)) as http:
        http.event_hooks = {"request": [traffic.record], "response": []}
        async for harness in make_harness(
            sso_emulator, http, client_ssl_context, links=links, finesse={"auth_mode": "bearer"}
        ):
            yield SsoSetup(harness, TokenIssuer(hmac_key_file.read_bytes().strip()), links, traffic)


async def _sign_in(harness: Harness, token: str | None) -> tuple[int, dict[str, object]]:
    status, body = await harness.call(
        AGENT,
        "POST",
        "/api/v1/agent/session",
        {"extension": AGENT},
        token=token,
        token_expires_at=_exp(token),
    )
    return status, body


async def _state(harness: Harness, state: str, token: str | None) -> tuple[int, dict[str, object]]:
    body: dict[str, str] = {"state": state}
    if state == "NOT_READY":
        body["reason_code_id"] = "1"
    status, answer = await harness.call(
        AGENT, "PUT", "/api/v1/agent/state", body, token=token, token_expires_at=_exp(token)
    )
    return status, answer


def _exp(token: str | None) -> float | None:
    """What the edge forwards beside a token: the ``exp`` it verified."""
    return None if token is None else _expiry(token)


async def test_the_forwarded_token_signs_in_and_changes_state(sso: SsoSetup) -> None:
    harness, token = sso.harness, sso.issuer.mint()
    status, agent = await _sign_in(harness, token)
    assert status == 200, agent
    assert agent["state"] == "NOT_READY"
    assert sso.links.tokens_used == [token], "the XMPP session signs in with the same token"

    status, agent = await _state(harness, "READY", token)
    assert (status, agent["state"]) == (200, "READY")
    assert (await harness.finesse_agent(AGENT))["state"] == "READY"
    assert set(sso.traffic.by_token) == {token}
    session = harness.manager.session(AGENT)  # type: ignore[arg-type]
    assert session is not None
    assert token not in repr(session)
    assert token not in repr(session.credentials)


async def test_a_newer_token_replaces_the_held_one_for_requests_and_reconnects(sso: SsoSetup) -> None:
    harness = sso.harness
    # The first token lives about a second: Finesse (no leeway) refuses it soon after.
    first = sso.issuer.mint(lifetime_s=1)
    status, agent = await _sign_in(harness, first)
    assert status == 200, agent
    sink = await harness.subscribe(AGENT)

    fresh = sso.issuer.mint()
    status, agent = await _state(harness, "READY", fresh)
    assert (status, agent["state"]) == (200, "READY")
    assert sso.traffic.by_token.get(fresh, 0) >= 1, "the request's newer token was sent to Finesse"

    async def first_expired() -> bool:
        return time.time() > _expiry(first)

    await eventually(first_expired, timeout_s=3)

    # A request without a token (as when the edge does not forward one) uses the held, fresh token:
    # had the first one been kept, Finesse would now refuse it.
    used_before = sso.traffic.by_token.get(first, 0)
    status, agent = await _state(harness, "NOT_READY", None)
    assert (status, agent["state"]) == (200, "NOT_READY"), agent
    assert sso.traffic.by_token.get(first, 0) == used_before

    # Background work: the XMPP link drops; the reconnect (and its resync over REST) uses the fresh token.
    sso.links.cut(AGENT)

    async def reconnected() -> bool:
        return len(sso.links.tokens_used) >= 2

    await eventually(reconnected)
    assert sso.links.tokens_used == [first, fresh]
    status, agent = await _state(harness, "READY", None)
    assert (status, agent["state"]) == (200, "READY"), agent
    await sink.wait_for(of_type("agent.updated", state="READY"))
    assert "session.ended" not in sink.types()
    assert sso.traffic.by_token.get(first, 0) == used_before, "the expired token is never sent again"


async def test_a_late_request_with_an_older_token_keeps_the_fresher_one(sso: SsoSetup) -> None:
    harness = sso.harness
    fresh = sso.issuer.mint(lifetime_s=600)
    status, agent = await _sign_in(harness, fresh)
    assert status == 200, agent
    # A request that was delayed (an app retrying, a second device) carries an older, still valid token.
    older = sso.issuer.mint(lifetime_s=60)
    status, agent = await _state(harness, "READY", older)
    assert (status, agent["state"]) == (200, "READY")

    sso.links.cut(AGENT)

    async def reconnected() -> bool:
        return len(sso.links.tokens_used) >= 2

    await eventually(reconnected)
    assert sso.links.tokens_used == [fresh, fresh], "the reconnect keeps the token that lives longer"


async def test_a_refused_token_is_a_clear_401_sent_once(sso: SsoSetup) -> None:
    harness = sso.harness
    status, agent = await _sign_in(harness, sso.issuer.mint())
    assert status == 200, agent

    # Signed by a key Finesse does not trust (e.g. after the IdP rotated and Finesse was not told).
    stranger = TokenIssuer(secrets.token_urlsafe(32).encode()).mint()
    status, problem = await _state(harness, "READY", stranger)
    assert (status, problem["code"]) == (401, "finesse_auth_failed"), problem
    assert sso.traffic.by_token[stranger] == 1, "a refused token is not retried"
    assert stranger not in repr(problem)

    # The next refreshed token works again, and the refused one was never sent a second time.
    status, agent = await _state(harness, "READY", sso.issuer.mint())
    assert (status, agent["state"]) == (200, "READY"), agent
    assert sso.traffic.by_token[stranger] == 1


async def test_an_expired_token_at_sign_in_is_refused_without_a_session(sso: SsoSetup) -> None:
    harness = sso.harness
    expired = sso.issuer.mint(lifetime_s=-60)
    status, problem = await _sign_in(harness, expired)
    assert (status, problem["code"]) == (401, "finesse_auth_failed"), problem
    assert sso.traffic.by_token[expired] == 1
    assert harness.manager.session(AGENT) is None  # type: ignore[arg-type]
    assert sso.links.tokens_used == []
    assert (await harness.finesse_agent(AGENT))["state"] == "LOGOUT"


def _expiry(token: str) -> float:
    """``exp`` of one of our own tokens (read without verifying: the test minted it)."""
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    exp = json.loads(base64.urlsafe_b64decode(payload))["exp"]
    assert isinstance(exp, int)
    return float(exp)
