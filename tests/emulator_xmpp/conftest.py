"""Real servers on loopback for the XMPP transport tests: direct TLS and a uvicorn app with ``/ws/``."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import pytest
import trustme

from fingress.emulator.hub import Hub
from fingress.emulator.xmpp import DirectTlsServer, XmppServerSettings
from fingress.emulator.xmpp.websocket import WEBSOCKET_PROTOCOL
from tests.emulator_xmpp.fakes import DOMAINS, RecordingCluster
from tests.emulator_xmpp.serving import serving_websocket
from tests.support.timing import seconds

FAST = XmppServerSettings(close_timeout_s=0.5, max_queued_notifications=16)


@pytest.fixture(scope="session")
def xmpp_server_ssl_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server certificate naming the XMPP domains too: XMPP clients check the domain, not the address."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*DOMAINS.values(), "localhost", "127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def cluster() -> RecordingCluster:
    return RecordingCluster()


@pytest.fixture
async def direct_tls(
    hub: Hub, cluster: RecordingCluster, xmpp_server_ssl_context: ssl.SSLContext
) -> AsyncIterator[DirectTlsServer]:
    server = DirectTlsServer(
        side="A", hub=hub, cluster=cluster, ssl_context=xmpp_server_ssl_context, settings=FAST
    )
    await server.start()
    try:
        yield server
    finally:
        async with asyncio.timeout(seconds(10)):
            await server.close()


@pytest.fixture(params=["direct", "asgi"])
async def websocket_port(
    request: pytest.FixtureRequest,
    hub: Hub,
    cluster: RecordingCluster,
    xmpp_server_ssl_context: ssl.SSLContext,
) -> AsyncIterator[int]:
    """The port of a real uvicorn (TLS) serving side A's ``/ws/``: under the emulator's own WebSocket
    protocol (messages written through its direct channel) and under uvicorn's plain one (over ASGI)."""
    ws = WEBSOCKET_PROTOCOL if request.param == "direct" else "websockets-sansio"
    async with serving_websocket(
        hub=hub, cluster=cluster, ssl_context=xmpp_server_ssl_context, settings=FAST, ws=ws
    ) as port:
        yield port
