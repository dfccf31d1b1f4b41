"""Fixtures for the restart path: the identity provider the edge tests use (JWKS over real TLS), the real
edge while no connector is up, and the emulator the connector tests use (millisecond timings); every async
test runs on asyncio and on uvloop."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trustme

from edge.relay.relay import TunnelRelay
from edge.server import EdgeServer
from tests.connector.conftest import emulator
from tests.edge.conftest import idp, loopback_edge_config
from tests.edge.servers import IdentityProvider
from tests.support.loops import LoopFactory, both_loops
from tests.support.timing import seconds

__all__ = ["edge_without_connector", "emulator", "idp"]


def pytest_asyncio_loop_factories() -> dict[str, LoopFactory]:
    return both_loops()


@pytest.fixture
async def edge_without_connector(
    idp: IdentityProvider,
    ca: trustme.CA,
    server_cert: trustme.LeafCert,
    ca_file: Path,
    tmp_path: Path,
    server_ssl_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
) -> AsyncIterator[httpx.AsyncClient]:
    """The real edge (uvicorn, TLS) in front of its real tunnel listener, which no connector has dialled."""
    tunnel_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(tunnel_tls)
    ca.configure_trust(tunnel_tls)
    tunnel_tls.verify_mode = ssl.CERT_REQUIRED
    relay = TunnelRelay(ssl_context=tunnel_tls, allowed_identities={"connector-1.fingress.test"}, port=0)
    config = loopback_edge_config(idp, ca_file, tmp_path)
    server = EdgeServer(config=config, upstream=relay, ssl_context_factory=lambda: server_ssl_context)
    async with asyncio.timeout(seconds(10)):
        await relay.start()
        await server.start()
    client = httpx.AsyncClient(
        base_url=f"https://127.0.0.1:{server.public_port}", verify=client_ssl_context, timeout=seconds(5)
    )
    try:
        yield client
    finally:
        await client.aclose()
        async with asyncio.timeout(seconds(10)):
            await server.stop()
            await relay.abort()
