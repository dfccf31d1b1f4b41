"""Fixtures for the edge: a local identity provider over TLS, a policy file, and a running edge (public
listener over TLS, admin listener on loopback) in front of a fake upstream.

Every async test runs on asyncio and on uvloop (its id ends in ``[asyncio]`` or ``[uvloop]``): `fingress
edge` runs on uvloop by default (``fingress.loops.EDGE_LOOP``), and the servers a test starts in-process
(the edge's uvicorn listeners, the identity provider, the tunnel relay) serve on the test's own loop, since
``uvicorn.Server.serve()`` takes the running loop (``Config(loop=...)`` is read only by ``Server.run()``)."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.config import AdminListener, EdgeConfig, Listener, ServerLimits
from edge.server import EdgeServer
from tests.edge.fakes import FakeUpstream
from tests.edge.servers import IdentityProvider
from tests.support.loops import LoopFactory, both_loops


def pytest_asyncio_loop_factories() -> dict[str, LoopFactory]:
    return both_loops()


def render_toml(data: dict[str, Any]) -> str:
    """Enough TOML for policy files: tables of scalars and lists."""
    lines: list[str] = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if value is None:
                continue
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    return "\n".join(lines)


def policy_data(idp: IdentityProvider, ca_file: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "oauth": {
            "issuer": idp.issuer,
            "audience": "fingress",
            "jwks_url": f"{idp.base_url}/jwks.json",
            "algorithms": ["RS256", "ES256"],
            "agent_id_claim": "finesse_id",
            "ca_file": str(ca_file),
            "leeway_s": 5,
            "jwks_min_refetch_interval_s": 60,
        },
        "rate_limits": {"per_ip": "1000/minute", "per_agent": "1000/minute", "sign_in": "100/minute"},
        "events": {"heartbeat_s": 30},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return data


def loopback_edge_config(
    idp: IdentityProvider, ca_file: Path, directory: Path, **settings: Any
) -> EdgeConfig:
    """An edge on ephemeral loopback ports whose policy file (written to ``directory``) trusts ``idp``;
    ``settings`` go to :class:`EdgeConfig` as they are."""
    policy_path = directory / "policy.toml"
    policy_path.write_text(render_toml(policy_data(idp, ca_file)))
    return EdgeConfig(
        policy_file=policy_path,
        public=Listener(host="127.0.0.1", port=0),
        admin=AdminListener(host="127.0.0.1", port=0),
        server=ServerLimits(graceful_shutdown_s=1),
        **settings,
    )


@pytest.fixture
async def idp(server_ssl_context: ssl.SSLContext) -> AsyncIterator[IdentityProvider]:
    provider = IdentityProvider()
    provider.start_serving(ssl_context=server_ssl_context)
    try:
        yield provider
    finally:
        await provider.stop_serving()


@dataclass
class Edge:
    server: EdgeServer
    upstream: FakeUpstream
    idp: IdentityProvider
    client: httpx.AsyncClient
    admin: httpx.AsyncClient
    policy_path: Path
    ca_file: Path

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.server.public_port}/api/v1/events"

    def auth(self, agent_id: str = "1001", **claims: Any) -> dict[str, str]:
        return {"authorization": f"Bearer {self.idp.mint(agent_id, **claims)}"}

    def write_policy(self, **sections: dict[str, Any]) -> None:
        self.policy_path.write_text(render_toml(policy_data(self.idp, self.ca_file, **sections)))

    async def metric(self, name: str, **labels: str) -> float:
        """The current value of one sample from the admin listener's /metrics."""
        text = (await self.admin.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            sample, _, value = line.rpartition(" ")
            if sample.split("{")[0] != name:
                continue
            if all(f'{key}="{wanted}"' in sample for key, wanted in labels.items()):
                return float(value)
        return 0.0


EdgeFactory = Callable[..., Any]


@pytest.fixture
def make_upstream() -> Callable[[], FakeUpstream]:
    """The upstream each edge of :func:`make_edge` gets unless given one (test modules override this)."""
    return FakeUpstream


@pytest.fixture
async def make_edge(
    make_upstream: Callable[[], FakeUpstream],
    idp: IdentityProvider,
    tmp_path: Path,
    ca_file: Path,
    server_ssl_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
) -> AsyncIterator[EdgeFactory]:
    """Start an edge (any number per test); all are stopped at the end."""
    started: list[Edge] = []

    async def start(upstream: FakeUpstream | None = None, **sections: dict[str, Any]) -> Edge:
        policy_path = tmp_path / f"policy-{len(started)}.toml"
        policy_path.write_text(render_toml(policy_data(idp, ca_file, **sections)))
        config = EdgeConfig(
            policy_file=policy_path,
            policy_poll_s=0.05,
            public=Listener(host="127.0.0.1", port=0),
            admin=AdminListener(host="127.0.0.1", port=0),
            server=ServerLimits(graceful_shutdown_s=1),
        )
        fake = upstream or make_upstream()
        server = EdgeServer(config=config, upstream=fake, ssl_context_factory=lambda: server_ssl_context)
        await server.start()
        edge = Edge(
            server=server,
            upstream=fake,
            idp=idp,
            client=httpx.AsyncClient(
                base_url=f"https://127.0.0.1:{server.public_port}", verify=client_ssl_context, timeout=10
            ),
            # Plain HTTP, but without a context of its own to use httpx builds a default one (~35 ms).
            admin=httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{server.admin_port}", verify=client_ssl_context, timeout=10
            ),
            policy_path=policy_path,
            ca_file=ca_file,
        )
        started.append(edge)
        return edge

    yield start

    async def stop(edge: Edge) -> None:
        await edge.client.aclose()
        await edge.admin.aclose()
        await edge.server.stop()

    # The identity provider stops alongside the edges (and again, at once, in its own fixture): uvicorn's
    # graceful shutdown takes ~0.2 s whatever it serves, and one after the other they doubled the teardown
    # of every test, run on two loops.
    await asyncio.gather(*(stop(edge) for edge in started), idp.stop_serving())


@pytest.fixture
async def edge(make_edge: EdgeFactory) -> Edge:
    result: Edge = await make_edge()
    return result
