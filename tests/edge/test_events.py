"""The event socket over real TLS with the websockets client: bearer and ticket auth, ``since``,
heartbeats, the per-agent cap, token expiry, and a close code for every way it can end; each with a
stream that pushes (the relay's, what production runs) and one that can only be iterated."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from edge.events.close_codes import CloseCode
from edge.tunnel.errors import Unavailable
from tests.edge.conftest import Edge, EdgeFactory
from tests.edge.fakes import STREAM_KINDS, FakeEventStream, FakeStream, FakeUpstream, PushingEventStream
from tests.support.timing import seconds


@pytest.fixture(params=sorted(STREAM_KINDS))
def make_upstream(request: pytest.FixtureRequest) -> Callable[[], FakeUpstream]:
    return lambda: FakeUpstream(make_stream=STREAM_KINDS[request.param])


@asynccontextmanager
async def socket(
    edge: Edge, ssl_context: ssl.SSLContext, query: str = "", headers: dict[str, str] | None = None
) -> AsyncIterator[ClientConnection]:
    url = edge.ws_url + (f"?{query}" if query else "")
    async with connect(url, ssl=ssl_context, additional_headers=headers or {}, proxy=None) as ws:
        yield ws


async def _drain(ws: ClientConnection) -> None:
    while True:
        await ws.recv()


async def close_code(ws: ClientConnection) -> int:
    """Read until the server closes; the close code it sent."""
    with pytest.raises(ConnectionClosed) as closed:
        await _drain(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def next_stream(edge: Edge) -> FakeStream:
    return await edge.upstream.opened.get()


async def frame(ws: ClientConnection) -> dict[str, Any]:
    data = json.loads(await ws.recv())
    assert isinstance(data, dict)
    return data


async def test_bearer_socket_relays_events_in_order_and_ends_with_the_session(
    edge: Edge, client_ssl_context: ssl.SSLContext
) -> None:
    async with (
        asyncio.timeout(seconds(10)),
        socket(edge, client_ssl_context, headers=edge.auth("1001")) as ws,
    ):
        stream = await next_stream(edge)
        assert stream.principal.agent_id == "1001"
        assert stream.since is None
        assert await edge.metric("fingress_edge_event_sockets") == 1
        stream.push(1, "snapshot", {"agent": {"state": "NOT_READY"}})
        stream.push(2, "dialog.created", {"id": "16777216"})
        assert [(await frame(ws))["seq"] for _ in range(2)] == [1, 2]
        stream.push(3, "session.ended", {"reason": "forced_logout"})
        assert (await frame(ws))["type"] == "session.ended"
        assert await close_code(ws) == CloseCode.SESSION_ENDED
        await asyncio.wait_for(stream.closed.wait(), seconds(5))
        assert await edge.metric("fingress_edge_event_sockets") == 0


async def test_since_is_passed_through_and_heartbeats_carry_the_last_seq(
    make_edge: EdgeFactory, client_ssl_context: ssl.SSLContext
) -> None:
    edge: Edge = await make_edge(events={"heartbeat_s": 0.05})
    async with asyncio.timeout(seconds(10)), socket(edge, client_ssl_context, "since=41", edge.auth()) as ws:
        stream = await next_stream(edge)
        assert stream.since == 41
        beat = await frame(ws)
        assert (beat["type"], beat["seq"]) == ("heartbeat", 41)
        assert beat["at"].endswith("Z")
        stream.push(42, "agent.updated")
        while (received := await frame(ws))["type"] == "heartbeat":
            pass
        assert received["seq"] == 42
        while (beat := await frame(ws))["type"] != "heartbeat":
            pass
        assert beat["seq"] == 42


async def test_ticket_opens_one_socket_once(edge: Edge, client_ssl_context: ssl.SSLContext) -> None:
    async with asyncio.timeout(seconds(10)):
        issued = await edge.client.post("/api/v1/events/ticket", headers=edge.auth("1001"))
        assert issued.status_code == 201
        ticket = issued.json()["ticket"]
        assert issued.json()["expires_in_s"] == 30
        async with socket(edge, client_ssl_context, f"ticket={ticket}") as ws:
            stream = await next_stream(edge)
            assert stream.principal.agent_id == "1001"
            stream.push(1, "snapshot")
            assert (await frame(ws))["seq"] == 1
        async with socket(edge, client_ssl_context, f"ticket={ticket}") as ws:
            assert await close_code(ws) == CloseCode.UNAUTHORIZED
        assert await edge.metric("fingress_edge_auth_failures_total", reason="bad_ticket") == 1
        refused = await edge.metric("fingress_edge_requests_total", route="/api/v1/events", status="ws_4401")
        assert refused == 1


async def test_ticket_is_bound_to_its_agent(edge: Edge, client_ssl_context: ssl.SSLContext) -> None:
    async with asyncio.timeout(seconds(10)):
        ticket = (await edge.client.post("/api/v1/events/ticket", headers=edge.auth("1001"))).json()["ticket"]
        async with socket(edge, client_ssl_context, f"ticket={ticket}", edge.auth("2002")) as ws:
            assert await close_code(ws) == CloseCode.UNAUTHORIZED
        assert edge.upstream.opened.empty()


async def test_refused_handshakes_say_why(make_edge: EdgeFactory, client_ssl_context: ssl.SSLContext) -> None:
    edge: Edge = await make_edge()
    cases = [
        ("", {}, CloseCode.UNAUTHORIZED),
        ("", {"authorization": "Bearer nonsense"}, CloseCode.UNAUTHORIZED),
        ("ticket=forged", {}, CloseCode.UNAUTHORIZED),
        ("since=-1", edge.auth(), CloseCode.BAD_REQUEST),
        ("since=abc", edge.auth(), CloseCode.BAD_REQUEST),
        ("since=99999999999999999999999", edge.auth(), CloseCode.BAD_REQUEST),
    ]
    async with asyncio.timeout(seconds(10)):
        for query, headers, expected in cases:
            async with socket(edge, client_ssl_context, query, headers) as ws:
                assert await close_code(ws) == expected, (query, headers)
        edge.upstream.open_error = Unavailable("no_connector", "No connector is up.")
        async with socket(edge, client_ssl_context, headers=edge.auth()) as ws:
            assert await close_code(ws) == CloseCode.UNAVAILABLE


async def test_socket_cap_per_agent(make_edge: EdgeFactory, client_ssl_context: ssl.SSLContext) -> None:
    edge: Edge = await make_edge(events={"max_sockets_per_agent": 2})
    async with (
        asyncio.timeout(seconds(10)),
        socket(edge, client_ssl_context, headers=edge.auth("1001")),
        socket(edge, client_ssl_context, headers=edge.auth("1001")),
    ):
        for _ in range(2):
            await next_stream(edge)
        async with socket(edge, client_ssl_context, headers=edge.auth("1001")) as third:
            assert await close_code(third) == CloseCode.TOO_MANY_SOCKETS
        async with socket(edge, client_ssl_context, headers=edge.auth("2002")) as other:
            stream = await next_stream(edge)
            stream.push(1, "snapshot")
            assert (await frame(other))["seq"] == 1


async def test_socket_closes_when_the_token_expires(edge: Edge, client_ssl_context: ssl.SSLContext) -> None:
    async with (
        asyncio.timeout(seconds(10)),
        socket(edge, client_ssl_context, headers=edge.auth(lifetime_s=2)) as ws,
    ):
        await next_stream(edge)
        assert await close_code(ws) == CloseCode.TOKEN_EXPIRED


async def test_stream_end_is_upstream_lost(edge: Edge, client_ssl_context: ssl.SSLContext) -> None:
    async with asyncio.timeout(seconds(10)), socket(edge, client_ssl_context, headers=edge.auth()) as ws:
        (await next_stream(edge)).end()
        assert await close_code(ws) == CloseCode.UPSTREAM_LOST


async def test_an_iterated_stream_failing_with_an_api_error_is_upstream_lost(
    make_edge: EdgeFactory, client_ssl_context: ssl.SSLContext
) -> None:
    edge: Edge = await make_edge(FakeUpstream(make_stream=FakeEventStream))
    async with asyncio.timeout(seconds(10)), socket(edge, client_ssl_context, headers=edge.auth()) as ws:
        stream = await next_stream(edge)
        assert isinstance(stream, FakeEventStream)
        stream.queue.put_nowait(Unavailable("tunnel_lost", "The tunnel went down."))
        assert await close_code(ws) == CloseCode.UPSTREAM_LOST


async def test_an_iterated_stream_failing_with_a_bug_is_an_internal_error(
    make_edge: EdgeFactory, client_ssl_context: ssl.SSLContext
) -> None:
    edge: Edge = await make_edge(FakeUpstream(make_stream=FakeEventStream))
    async with asyncio.timeout(seconds(10)), socket(edge, client_ssl_context, headers=edge.auth()) as ws:
        stream = await next_stream(edge)
        assert isinstance(stream, FakeEventStream)
        stream.queue.put_nowait(RuntimeError("a bug"))
        assert await close_code(ws) == CloseCode.INTERNAL_ERROR


async def test_a_pushing_stream_ended_with_resync_sends_the_alert_then_upstream_lost(
    make_edge: EdgeFactory, client_ssl_context: ssl.SSLContext
) -> None:
    edge: Edge = await make_edge(FakeUpstream(make_stream=PushingEventStream))
    async with asyncio.timeout(seconds(10)), socket(edge, client_ssl_context, headers=edge.auth()) as ws:
        stream = await next_stream(edge)
        assert isinstance(stream, PushingEventStream)
        stream.push(7, "snapshot")
        assert (await frame(ws))["seq"] == 7
        stream.end_with_resync("connector_queue_full")
        alert = await frame(ws)
        assert (alert["type"], alert["seq"], alert["data"]) == (
            "alert",
            7,
            {"kind": "resync", "reason": "connector_queue_full"},
        )
        assert await close_code(ws) == CloseCode.UPSTREAM_LOST


async def test_oversized_client_message_closes_the_socket(
    make_edge: EdgeFactory, client_ssl_context: ssl.SSLContext
) -> None:
    edge: Edge = await make_edge(events={"max_message_bytes": 64})
    async with asyncio.timeout(seconds(10)), socket(edge, client_ssl_context, headers=edge.auth()) as ws:
        stream = await next_stream(edge)
        await ws.send("small and ignored")
        await ws.send("x" * 1000)
        assert await close_code(ws) == CloseCode.MESSAGE_TOO_BIG
        await asyncio.wait_for(stream.closed.wait(), seconds(5))


async def test_events_route_is_websocket_only(edge: Edge, client_ssl_context: ssl.SSLContext) -> None:
    async with asyncio.timeout(seconds(10)):
        plain = await edge.client.get("/api/v1/events", headers=edge.auth())
        assert plain.status_code == 404
        url = f"wss://127.0.0.1:{edge.server.public_port}/api/v1/agent"
        async with connect(url, ssl=client_ssl_context, additional_headers=edge.auth(), proxy=None) as ws:
            assert await close_code(ws) == CloseCode.NOT_FOUND
