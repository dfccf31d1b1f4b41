"""A real tunnel on loopback: the edge's listener and the connector's client, mutual TLS with the
session trustme CA; every async test runs on asyncio and on uvloop."""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
import trustme

from connector.tunnel.client import TunnelClient
from edge.relay.relay import TunnelRelay
from edge.tunnel.messages import AgentId, Principal, TunnelRequest
from tests.support.loops import LoopFactory, both_loops
from tests.support.timing import seconds
from tests.tunnel.fakes import EchoService

CONNECTOR_NAME = "connector-1.fingress.test"


def pytest_asyncio_loop_factories() -> dict[str, LoopFactory]:
    return both_loops()


def edge_context(ca: trustme.CA, server_cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def connector_context(trusted: trustme.CA, client_cert: trustme.LeafCert | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    trusted.configure_trust(context)
    if client_cert is not None:
        client_cert.configure_cert(context)
    return context


@pytest.fixture(scope="session")
def connector_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert(CONNECTOR_NAME)


@pytest.fixture(scope="session")
def edge_ssl(ca: trustme.CA, server_cert: trustme.LeafCert) -> ssl.SSLContext:
    return edge_context(ca, server_cert)


@pytest.fixture(scope="session")
def connector_ssl(ca: trustme.CA, connector_cert: trustme.LeafCert) -> ssl.SSLContext:
    return connector_context(ca, connector_cert)


def principal(agent: str = "1001") -> Principal:
    return Principal(agent_id=AgentId(agent), subject=f"user-{agent}", token="eyJ.secret.token")


def request(
    path: str = "/api/v1/echo", *, agent: str | None = "1001", method: str = "GET", body: bytes = b""
) -> TunnelRequest:
    return TunnelRequest(
        request_id=f"r-{random.getrandbits(32)}",
        method=method,
        path=path,
        query="x=1",
        headers={"content-type": "application/json"},
        body=body,
        principal=None if agent is None else principal(agent),
    )


@dataclass
class Tunnel:
    relay: TunnelRelay
    service: EchoService
    edge_ssl: ssl.SSLContext
    connector_ssl: ssl.SSLContext
    clients: list[TunnelClient]

    @property
    def url(self) -> str:
        return f"wss://localhost:{self.relay.port}/tunnel"

    def client(
        self,
        *,
        connector_id: str = "c1",
        connections: int = 2,
        service: EchoService | None = None,
        **options: object,
    ) -> TunnelClient:
        """A connector dialling the relay, serving ``service`` (default: the tunnel's shared one)."""
        client = TunnelClient(
            urls=[self.url],
            ssl_context=self.connector_ssl,
            service=service or self.service,
            connector_id=connector_id,
            connections_per_edge=connections,
            backoff_base_s=0.02,
            backoff_max_s=0.2,
            rng=random.Random(4),
            **options,  # type: ignore[arg-type]
        )
        self.clients.append(client)
        return client

    async def connected(self, count: int = 1, client: TunnelClient | None = None) -> None:
        """The relay has ``count`` usable connections, and ``client`` (default: the last one made)
        sees its own ``count`` (so both ends agree before a test acts)."""
        client = client or (self.clients[-1] if self.clients else None)
        async with asyncio.timeout(seconds(5)):
            await self.relay.wait_for_connections(count)
            if client is not None:
                await client.wait_for_connections(count)


@pytest.fixture
async def make_relay(edge_ssl: ssl.SSLContext) -> AsyncIterator[Callable[..., TunnelRelay]]:
    relays: list[TunnelRelay] = []

    def make(**options: object) -> TunnelRelay:
        settings: dict[str, object] = {
            "ssl_context": edge_ssl,
            "allowed_identities": {CONNECTOR_NAME},
            "port": 0,
            "attach_timeout_s": seconds(2),
        }
        settings.update(options)
        relay = TunnelRelay(**settings)  # type: ignore[arg-type]
        relays.append(relay)
        return relay

    yield make
    for relay in relays:
        await relay.abort()


@pytest.fixture
async def tunnel(
    make_relay: Callable[..., TunnelRelay], edge_ssl: ssl.SSLContext, connector_ssl: ssl.SSLContext
) -> AsyncIterator[Tunnel]:
    relay = make_relay()
    await relay.start()
    state = Tunnel(
        relay=relay, service=EchoService(), edge_ssl=edge_ssl, connector_ssl=connector_ssl, clients=[]
    )
    yield state
    for client in state.clients:
        await client.abort()


async def eventually(predicate: Callable[[], bool], *, within_s: float = 5.0) -> None:
    """Wait, bounded, for a condition the code under test reaches on its own (no fixed sleep)."""
    async with asyncio.timeout(seconds(within_s)):
        while not predicate():
            await asyncio.sleep(0.005)
