"""The simulated app's event socket against a real WebSocket server over TLS: frames are decoded and
recorded in order, the bearer token goes in the upgrade request, the edge's pings are answered; a refused
upgrade fails with its status and Retry-After; the edge's close code is kept and fails whoever waits for
a frame; closing the socket ourselves fails no one; a resume asks for ``?since=`` the last seq seen."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from fingress.bench.agent import AgentFailed, SimulatedAgent, of_type
from fingress.bench.cluster import BenchAgent
from tests.support.timing import seconds

FRAMES = [
    {"seq": 1, "type": "snapshot", "at": "2026-11-21T10:00:00.000Z", "data": {"state": "NOT_READY"}},
    {"seq": 1, "type": "heartbeat", "at": "2026-11-21T10:00:01.000Z", "data": {}},
    {"seq": 2, "type": "agent.updated", "at": "2026-11-21T10:00:02.000Z", "data": {"state": "READY"}},
]
Edge = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def app_against(
    edge: Edge,
    server_ssl_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
    process_request: Callable[[ServerConnection, Request], Response | None] | None = None,
) -> AsyncIterator[SimulatedAgent]:
    async with (
        serve(edge, "127.0.0.1", 0, ssl=server_ssl_context, process_request=process_request) as server,
        httpx.AsyncClient(verify=client_ssl_context) as api,
    ):
        port = server.sockets[0].getsockname()[1]
        yield SimulatedAgent(
            spec=BenchAgent(id="1001", extension="1001001", password="p"),
            token="t0ken",
            api=api,
            events_url=f"wss://localhost:{port}/api/v1/events",
            ssl_context=client_ssl_context,
        )


async def test_frames_are_decoded_in_order_and_the_edges_pings_answered(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    headers_seen: list[str | None] = []
    pongs: list[float] = []

    async def edge(connection: ServerConnection) -> None:
        assert connection.request is not None
        headers_seen.append(connection.request.headers.get("Authorization"))
        for frame in FRAMES[:2]:
            await connection.send(json.dumps(frame))
        pongs.append(await asyncio.wait_for(await connection.ping(), seconds(5)))
        await connection.send(json.dumps(FRAMES[2]).encode())  # a binary message decodes the same
        await connection.wait_closed()

    async with (
        asyncio.timeout(seconds(10)),
        app_against(edge, server_ssl_context, client_ssl_context) as agent,
    ):
        ready = agent.expect(of_type("agent.updated", state="READY"))
        await agent.open_events()
        frame = await agent.wait(ready, timeout_s=seconds(5))
        await agent.close_events()
    assert frame["seq"] == 2
    assert headers_seen == ["Bearer t0ken"]
    assert len(pongs) == 1
    assert agent.last_seq == 2
    assert (agent.sequence.resyncs, agent.sequence.received) == (1, 1)  # the snapshot, then one event
    assert agent.sequence.lost == agent.sequence.duplicated == agent.sequence.out_of_order == 0
    assert agent.closed.is_set()
    assert agent.close_code == 1000


async def test_a_refused_upgrade_fails_with_its_status_and_retry_after(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        body = b'{"code": "no_connector"}'
        headers = Headers({"Retry-After": "2", "Content-Length": str(len(body))})
        return Response(503, "Service Unavailable", headers, body)

    async def edge(connection: ServerConnection) -> None:
        raise AssertionError("refused before this")

    async with (
        asyncio.timeout(seconds(10)),
        app_against(edge, server_ssl_context, client_ssl_context, refuse) as agent,
    ):
        with pytest.raises(AgentFailed) as failed:
            await agent.open_events()
    assert str(failed.value) == "agent 1001: event socket refused: 503"
    assert failed.value.retry_after_s == 2.0


async def test_the_edges_close_code_is_kept_and_fails_whoever_waits_for_a_frame(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async def edge(connection: ServerConnection) -> None:
        await connection.send(json.dumps(FRAMES[0]))
        await connection.close(1012, "service restart")

    async with (
        asyncio.timeout(seconds(10)),
        app_against(edge, server_ssl_context, client_ssl_context) as agent,
    ):
        never = agent.expect(of_type("dialog.created"))
        await agent.open_events()
        await agent.closed.wait()
        with pytest.raises(AgentFailed, match=r"event socket closed \(1012\)"):
            await agent.wait(never, timeout_s=seconds(5))
        await agent.close_events()
    assert agent.close_code == 1012
    assert agent.sequence.resyncs == 1


async def test_closing_the_socket_ourselves_fails_no_one_and_a_resume_asks_since_the_last_seq(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    paths: list[str] = []

    async def edge(connection: ServerConnection) -> None:
        assert connection.request is not None
        paths.append(connection.request.path)
        for frame in (FRAMES[0], FRAMES[2]):
            await connection.send(json.dumps(frame))
        await connection.wait_closed()

    async with (
        asyncio.timeout(seconds(10)),
        app_against(edge, server_ssl_context, client_ssl_context) as agent,
    ):
        seen = agent.expect(of_type("agent.updated"))
        await agent.open_events()
        await agent.wait(seen, timeout_s=seconds(5))
        pending = agent.expect(of_type("dialog.created"))
        await agent.close_events()
        assert agent.closed.is_set()
        assert not pending.done()
        await agent.open_events(resume=True)
        await agent.close_events()
    assert paths == ["/api/v1/events", "/api/v1/events?since=2"]
    assert agent.close_code == 1000
