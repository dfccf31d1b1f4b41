"""A connector stopping (the first half of a restart) against the real emulator: its agents' XMPP
sessions close, but nobody is signed out, and the admin listener is gone when ``close()`` returns."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest

from connector.runtime import Connector
from edge.tunnel.messages import AgentId, Principal, TunnelRequest
from fingress.emulator.server import EmulatorServer
from tests.connector.conftest import PASSWORDS, connector_config
from tests.support.timing import seconds

AGENTS = {"1001": "1001001", "1002": "1002001", "1003": "1003"}


async def sign_in(connector: Connector, agent_id: str, extension: str) -> None:
    body = f'{{"extension": "{extension}", "finesse_password": "{PASSWORDS[agent_id]}"}}'.encode()
    principal = Principal(agent_id=AgentId(agent_id), subject=agent_id)
    response = await connector.manager.handle(
        TunnelRequest(f"r-{agent_id}", "POST", "/api/v1/agent/session", "", {}, body, principal)
    )
    assert response.status == 200, response.body


async def test_stopping_closes_xmpp_sessions_without_signing_anyone_out(
    emulator: EmulatorServer, client_ssl_context: ssl.SSLContext
) -> None:
    # Default links: the real XMPP client, over WebSocket to the emulator.
    config = connector_config(emulator, admin={"port": 0})
    connector = Connector(config=config, finesse_tls=client_ssl_context)
    async with asyncio.timeout(seconds(20)):
        await connector.__aenter__()
        try:
            admin_url = f"http://127.0.0.1:{connector.admin_port}/healthz"
            await asyncio.gather(*(sign_in(connector, agent, ext) for agent, ext in AGENTS.items()))
            presence = emulator.cluster.presence()["A"]
            assert all(presence.get(agent) for agent in AGENTS), presence
        finally:
            await connector.close()
        cti = emulator.cluster.cti
        assert {agent: cti.agents[agent].state for agent in AGENTS} == dict.fromkeys(AGENTS, "NOT_READY")
        assert {agent: cti.agent_on_extension(ext) is cti.agents[agent] for agent, ext in AGENTS.items()} == (
            dict.fromkeys(AGENTS, True)
        )
        # The XMPP sessions ended cleanly (unavailable presence): Finesse's own timer decides from here.
        presence = emulator.cluster.presence()["A"]
        assert not any(presence.get(agent) for agent in AGENTS), presence
        assert len(connector.manager) == 0
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as client:
                await client.get(admin_url)
        await connector.close()  # idempotent
