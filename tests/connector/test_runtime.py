"""The composition root: a connector process against the emulator, admin listener on loopback."""

from __future__ import annotations

import asyncio
import ssl

import httpx

from connector.runtime import Connector
from edge.tunnel.messages import AgentId, Principal, TunnelRequest
from fingress.emulator.server import EmulatorServer
from tests.connector.conftest import connector_config
from tests.connector.test_xmpp_links import side_tables
from tests.support.timing import seconds


async def test_connector_serves_sessions_and_admin(
    emulator: EmulatorServer, client_ssl_context: ssl.SSLContext
) -> None:
    # Default links: the real XMPP client, here over WebSocket to the emulator's side A.
    config = connector_config(emulator, admin={"port": 0}, **side_tables(emulator, "ws"))
    async with (
        asyncio.timeout(seconds(15)),
        Connector(config=config, finesse_tls=client_ssl_context) as connector,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{connector.admin_port}") as admin,
    ):
        assert (await admin.get("/readyz")).status_code == 200
        principal = Principal(agent_id=AgentId("1003"), subject="1003")
        body = b'{"extension": "1003", "finesse_password": "carol-pass"}'
        response = await connector.manager.handle(
            TunnelRequest("r1", "POST", "/api/v1/agent/session", "", {}, body, principal)
        )
        assert response.status == 200
        assert 'fingress_connector_sessions{state="active"} 1.0' in (await admin.get("/metrics")).text
    assert len(connector.manager) == 0
