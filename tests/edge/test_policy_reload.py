"""Policy hot reload on a running edge: good files apply atomically, bad ones leave the old policy
serving and show their error on the admin listener."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.metrics import EdgeMetrics
from edge.policy import Policy, parse_policy
from edge.policy_runtime import PolicyRuntime
from edge.tunnel.errors import ConfigError
from edge.tunnel.messages import TunnelRequest, TunnelResponse
from tests.edge.conftest import Edge, EdgeFactory
from tests.edge.fakes import FakeUpstream, echo
from tests.support.timing import seconds


async def test_admin_reload_applies_a_good_policy(edge: Edge) -> None:
    async with asyncio.timeout(seconds(10)):
        assert (
            await edge.client.post("/api/v1/dialogs", json={"to": "2002"}, headers=edge.auth())
        ).status_code == 200
        allow = ["GET /api/v1/agent", "GET /api/v1/dialogs"]
        edge.write_policy(http={"allow": allow})
        reload = await edge.admin.post("/reload")
        assert reload.status_code == 200
        assert reload.json()["applied"] is True
        response = await edge.client.post("/api/v1/dialogs", json={"to": "2002"}, headers=edge.auth())
        assert response.status_code == 404
        assert (await edge.client.get("/api/v1/dialogs", headers=edge.auth())).status_code == 200
        assert await edge.metric("fingress_edge_policy_reloads_total", outcome="applied") == 2


async def test_bad_policy_keeps_the_old_one_serving_and_shows_the_error(edge: Edge) -> None:
    async with asyncio.timeout(seconds(10)):
        before = (await edge.admin.get("/policy/status")).json()
        edge.write_policy(rate_limits={"per_agent": "lots"})
        reload = await edge.admin.post("/reload")
        assert reload.status_code == 422
        assert 'rate_limits.per_agent: expected "N/period"' in reload.json()["error"]
        status = (await edge.admin.get("/policy/status")).json()
        assert status["digest"] == before["digest"]
        assert status["healthy"] is False
        assert "rate_limits.per_agent" in status["last_error"]
        assert (await edge.client.get("/api/v1/agent", headers=edge.auth())).status_code == 200
        assert await edge.metric("fingress_edge_policy_reloads_total", outcome="failed") == 1


async def test_file_change_is_picked_up_by_polling(edge: Edge) -> None:
    reloaded = edge.server.policy.next_reload()
    edge.write_policy(http={"allow": ["GET /api/v1/agent"]})
    async with asyncio.timeout(seconds(10)):
        assert (await reloaded).applied
        assert (await edge.client.get("/api/v1/dialogs", headers=edge.auth())).status_code == 404
        status = (await edge.admin.get("/policy/status")).json()
    assert status["healthy"] is True


async def test_garbage_file_is_a_failed_reload_not_a_crash(edge: Edge) -> None:
    edge.policy_path.write_bytes(b"\xff\xfe[not toml")
    async with asyncio.timeout(seconds(10)):
        reload = await edge.admin.post("/reload")
        assert reload.json()["applied"] is False
        edge.policy_path.unlink()
        reload = await edge.admin.post("/reload")
        assert reload.json()["applied"] is False
        assert "cannot read" in reload.json()["error"]
        assert (await edge.client.get("/api/v1/agent", headers=edge.auth())).status_code == 200


async def test_counters_survive_a_reload_with_the_same_storage(edge: Edge) -> None:
    edge.write_policy(rate_limits={"per_agent": "2/minute"})
    async with asyncio.timeout(seconds(10)):
        assert (await edge.admin.post("/reload")).json()["applied"]
        assert (await edge.client.get("/api/v1/agent", headers=edge.auth())).status_code == 200
        edge.write_policy(rate_limits={"per_agent": "2/minute"}, events={"heartbeat_s": 10})
        assert (await edge.admin.post("/reload")).json()["applied"]
        assert (await edge.client.get("/api/v1/agent", headers=edge.auth())).status_code == 200
        assert (await edge.client.get("/api/v1/agent", headers=edge.auth())).status_code == 429


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[oauth]\nissuer='i'\naudience='a'\njwks_url='https://k'\n[rate_limits]\nsign_in='x'",
            "rate_limits.sign_in",
        ),
        ("[oauth]\nissuer='i'\naudience='a'\njwks_url='http://k'", "oauth: key URLs must use https://"),
        ("[oauth]\nissuer='i'\naudience='a'", "oauth: set exactly one of jwks_url and discovery_url"),
        (
            "[oauth]\nissuer='i'\naudience='a'\njwks_url='https://k'\nalgorithms=['HS256']",
            "oauth.algorithms.0",
        ),
        (
            "[oauth]\nissuer='i'\naudience='a'\njwks_url='https://k'\nalgorithms=['none']",
            "oauth.algorithms.0",
        ),
        (
            "[oauth]\nissuer='i'\naudience='a'\njwks_url='https://k'\n[http]\ncors_origins=['*']",
            "http.cors_origins.0",
        ),
        (
            "[oauth]\nissuer='i'\naudience='a'\njwks_url='https://k'\n[http]\ntrusted_proxies=['x']",
            "http.trusted_proxies.0",
        ),
        (
            "[oauth]\nissuer='i'\naudience='a'\njwks_url='https://k'\n[http]\nallow=['GET /admin']",
            "http.allow.0",
        ),
        ("[oauth]\nissuer='i'\naudience='a'\njwks_url='https://k'\nsurprise=1", "oauth.surprise"),
        ("oauth = 3", "oauth"),
        ("[[[", "not valid TOML"),
    ],
)
def test_policy_errors_name_the_key_path(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_policy(text, source="policy.toml")
    assert expected in str(raised.value)
    assert str(raised.value).startswith("policy.toml: ")


async def test_in_flight_request_finishes_on_its_snapshot(make_edge: EdgeFactory) -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def slow(request: TunnelRequest) -> TunnelResponse:
        entered.set()
        await release.wait()
        return await echo(request)

    edge: Edge = await make_edge(FakeUpstream(handler=slow))
    async with asyncio.timeout(seconds(10)):
        in_flight = asyncio.create_task(edge.client.get("/api/v1/dialogs", headers=edge.auth()))
        await entered.wait()
        edge.write_policy(http={"allow": ["GET /api/v1/agent"]})
        assert (await edge.admin.post("/reload")).json()["applied"]
        release.set()
        assert (await in_flight).status_code == 200
        assert (await edge.client.get("/api/v1/dialogs", headers=edge.auth())).status_code == 404


class _Veto:
    """A participant (like the TLS reloader) that refuses certificate paths it cannot load."""

    def __init__(self) -> None:
        self.committed: list[Policy] = []

    def prepare(self, policy: Policy) -> Callable[[], None]:
        if policy.tls.cert_file is not None and not policy.tls.cert_file.exists():
            raise ConfigError("policy", [("tls.cert_file", "no such file")])
        return lambda: self.committed.append(policy)


async def test_a_participant_can_veto_a_reload(edge: Edge, tmp_path: Path) -> None:
    veto = _Veto()
    runtime = PolicyRuntime(path=edge.policy_path, metrics=EdgeMetrics(), participants=(veto,))
    try:
        await runtime.start()
        assert len(veto.committed) == 1
        edge.write_policy(
            tls={"cert_file": str(tmp_path / "missing.pem")}, http={"allow": ["GET /api/v1/agent"]}
        )
        outcome = await runtime.reload()
        assert not outcome.applied
        assert outcome.error is not None
        assert "tls.cert_file: no such file" in outcome.error
        assert len(veto.committed) == 1
        assert len(runtime.current.policy.http.allow) == 12
    finally:
        await runtime.aclose()


def test_example_policy_parses_to_the_defaults() -> None:
    example = Path(__file__).parents[2] / "edge" / "policy.example.toml"
    policy = parse_policy(example.read_text(), source=example.name)
    minimal = parse_policy(
        "[oauth]\nissuer = 'https://idp.example.com/realms/contact-center'\naudience = 'fingress'\n"
        "jwks_url = 'https://idp.example.com/realms/contact-center/protocol/openid-connect/certs'\n",
        source="minimal.toml",
    )
    assert policy == minimal


def test_relative_paths_are_resolved_against_the_policy_folder(tmp_path: Path) -> None:
    from edge.policy import load_policy

    path = tmp_path / "policy.toml"
    path.write_text(
        "[oauth]\nissuer='i'\naudience='a'\njwks_url='https://k'\nca_file='idp-ca.pem'\n"
        "[tls]\ncert_file='certs/edge.pem'\nkey_file='/abs/edge.key'\n"
    )
    policy = load_policy(path)
    assert policy.oauth.ca_file == tmp_path / "idp-ca.pem"
    assert policy.tls.cert_file == tmp_path / "certs" / "edge.pem"
    assert policy.tls.key_file == Path("/abs/edge.key")
