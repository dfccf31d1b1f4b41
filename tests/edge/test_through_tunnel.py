"""The public app in front of the real tunnel: the edge's relay listener (mutual TLS) and the connector's
tunnel client, with a small session layer behind it. Requests and events cross real sockets both ways."""

from __future__ import annotations

import asyncio
import json
import random
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from websockets.asyncio.client import connect

from connector.tunnel.client import TunnelClient
from edge.events.close_codes import CloseCode
from edge.relay.relay import TunnelRelay
from edge.server import EdgeServer
from tests.edge.conftest import loopback_edge_config
from tests.edge.fakes import ConnectorService
from tests.edge.servers import IdentityProvider
from tests.edge.test_events import close_code
from tests.support.timing import seconds

CONNECTOR = "connector-1.fingress.test"


@dataclass
class Stack:
    server: EdgeServer
    relay: TunnelRelay
    service: ConnectorService
    connector: TunnelClient
    client: httpx.AsyncClient
    admin: httpx.AsyncClient
    idp: IdentityProvider


@pytest.fixture
async def stack(
    idp: IdentityProvider,
    ca: trustme.CA,
    server_cert: trustme.LeafCert,
    ca_file: Path,
    tmp_path: Path,
    server_ssl_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
) -> AsyncIterator[Stack]:
    tunnel_server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(tunnel_server)
    ca.configure_trust(tunnel_server)
    tunnel_server.verify_mode = ssl.CERT_REQUIRED
    tunnel_client = ssl.create_default_context()
    ca.configure_trust(tunnel_client)
    ca.issue_cert(CONNECTOR).configure_cert(tunnel_client)

    relay = TunnelRelay(ssl_context=tunnel_server, allowed_identities={CONNECTOR}, port=0)
    await relay.start()
    config = loopback_edge_config(idp, ca_file, tmp_path)
    server = EdgeServer(config=config, upstream=relay, ssl_context_factory=lambda: server_ssl_context)
    await server.start()
    service = ConnectorService()
    connector = TunnelClient(
        urls=[f"wss://localhost:{relay.port}/tunnel"],
        ssl_context=tunnel_client,
        service=service,
        connector_id="c1",
        connections_per_edge=2,
        backoff_base_s=0.02,
        backoff_max_s=0.2,
        rng=random.Random(1),
    )
    client = httpx.AsyncClient(base_url=f"https://127.0.0.1:{server.public_port}", verify=client_ssl_context)
    admin = httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.admin_port}", verify=client_ssl_context)
    try:
        yield Stack(server, relay, service, connector, client, admin, idp)
    finally:
        await client.aclose()
        await admin.aclose()
        await connector.abort()
        await server.stop()
        await relay.abort()


async def test_requests_and_events_cross_the_real_tunnel(
    stack: Stack, client_ssl_context: ssl.SSLContext
) -> None:
    auth = {"authorization": f"Bearer {stack.idp.mint('1001')}"}
    async with asyncio.timeout(seconds(15)):
        assert (await stack.admin.get("/readyz")).status_code == 503
        unavailable = await stack.client.get("/api/v1/agent", headers=auth)
        assert unavailable.status_code == 503
        assert unavailable.headers["content-type"] == "application/problem+json"

        await stack.connector.start()
        await stack.relay.wait_for_connections(2)
        assert (await stack.admin.get("/readyz")).status_code == 200
        metrics = (await stack.admin.get("/metrics")).text
        assert "fingress_edge_tunnel_connections 2.0" in metrics

        changed = await stack.client.put(
            "/api/v1/agent/state", json={"state": "NOT_READY", "reason_code_id": "16"}, headers=auth
        )
        assert changed.status_code == 200
        assert changed.json()["agent_id"] == "1001"
        assert changed.json()["body"] == {"state": "NOT_READY", "reason_code_id": "16"}
        assert stack.service.handled[-1].principal is not None
        assert stack.service.handled[-1].principal.agent_id == "1001"

        refused = await stack.client.post("/api/v1/dialogs", json={"to": "2002"}, headers=auth)
        assert refused.status_code == 409
        assert refused.json()["code"] == "call_in_progress"
        assert refused.json()["dialog_id"] == "16777216"

        url = f"wss://127.0.0.1:{stack.server.public_port}/api/v1/events?since=7"
        async with connect(url, ssl=client_ssl_context, additional_headers=auth, proxy=None) as ws:
            assert await stack.service.attached.get() == "1001"
            snapshot = json.loads(await ws.recv())
            assert (snapshot["type"], snapshot["seq"]) == ("snapshot", 7)
            stack.service.publish("1001", 8, "dialog.created")
            assert json.loads(await ws.recv())["seq"] == 8
            stack.service.publish("1001", 9, "session.ended")
            assert json.loads(await ws.recv())["type"] == "session.ended"
            assert await close_code(ws) == CloseCode.SESSION_ENDED
