"""The simulated app's event socket against a real WebSocket server over TLS: frames are decoded and
recorded in order, and the app sends no pings of its own (a real mobile app does not; the edge's pings and
heartbeat frames keep the socket alive)."""

from __future__ import annotations

import asyncio
import json
import ssl

import httpx
from websockets.asyncio.server import ServerConnection, serve

from fingress.bench.agent import SimulatedAgent, of_type
from fingress.bench.cluster import BenchAgent
from tests.support.timing import seconds

FRAMES = [
    {"seq": 1, "type": "snapshot", "at": "2026-11-21T10:00:00.000Z", "data": {"state": "NOT_READY"}},
    {"seq": 1, "type": "heartbeat", "at": "2026-11-21T10:00:01.000Z", "data": {}},
    {"seq": 2, "type": "agent.updated", "at": "2026-11-21T10:00:02.000Z", "data": {"state": "READY"}},
]


async def test_frames_are_decoded_in_order_and_the_app_does_not_ping(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    headers_seen: list[str | None] = []

    async def edge(connection: ServerConnection) -> None:
        assert connection.request is not None
        headers_seen.append(connection.request.headers.get("Authorization"))
        for frame in FRAMES:
            await connection.send(json.dumps(frame))
        await connection.wait_closed()

    async with asyncio.timeout(seconds(10)):
        async with serve(edge, "127.0.0.1", 0, ssl=server_ssl_context) as server:
            port = server.sockets[0].getsockname()[1]
            async with httpx.AsyncClient(verify=client_ssl_context) as api:
                agent = SimulatedAgent(
                    spec=BenchAgent(id="1001", extension="1001001", password="p"),
                    token="t0ken",
                    api=api,
                    events_url=f"wss://localhost:{port}/api/v1/events",
                    ssl_context=client_ssl_context,
                )
                ready = agent.expect(of_type("agent.updated", state="READY"))
                await agent.open_events()
                frame = await agent.wait(ready, timeout_s=seconds(5))
                socket = agent._socket
                assert socket is not None
                # websockets pings every 20 s by default; the app must not (keepalive task absent).
                assert socket.ping_interval is None
                assert socket.keepalive_task is None
                await agent.close_events()
    assert frame["seq"] == 2
    assert headers_seen == ["Bearer t0ken"]
    assert agent.last_seq == 2
    assert (agent.sequence.resyncs, agent.sequence.received) == (1, 1)  # the snapshot, then one event
    assert agent.sequence.lost == agent.sequence.duplicated == agent.sequence.out_of_order == 0
