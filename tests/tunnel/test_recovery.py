"""Killing and restarting either end recovers on its own; nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from connector.tunnel.client import TunnelClient
from edge.relay.relay import TunnelRelay
from edge.tunnel.errors import Unavailable
from tests.support.timing import seconds
from tests.tunnel.conftest import Tunnel, eventually, principal, request


async def test_killed_connector_fails_in_flight_fast_and_streams_resume_without_gap(tunnel: Tunnel) -> None:
    first = tunnel.client(connector_id="c1", connections=1)
    await first.start()
    await tunnel.connected(1)
    async with asyncio.timeout(seconds(10)):
        stream = await tunnel.relay.open_events(principal(), since=None)
        for _ in range(3):
            tunnel.service.publish("1001")
        assert [(await anext(stream)).seq for _ in range(4)] == [0, 1, 2, 3]
        in_flight = asyncio.create_task(
            tunnel.relay.request(request("/api/v1/slow", method="POST"), timeout_s=seconds(30))
        )
        await tunnel.service.slow_started.wait()

        await first.abort()  # a crash: no drain, no closing handshake
        with pytest.raises(Unavailable) as lost:
            await in_flight  # fails at once, long before its 30 s timeout
        assert lost.value.code == "connector_lost"
        alert = await anext(stream)
        assert alert.type == "alert"
        assert json.loads(alert.json)["data"] == {"kind": "connector_lost", "reattaching": False}
        assert alert.seq == 3  # edge-made frames carry the last delivered seq
        assert not tunnel.relay.ready

        tunnel.service.publish("1001")  # happens while no connector is connected
        tunnel.service.publish("1001")
        second = tunnel.client(connector_id="c1", connections=1)
        await second.start()
        await tunnel.connected(1)
        tunnel.service.release.set()
        response = await tunnel.relay.request(request(), timeout_s=seconds(5))
        assert response.status == 200
        tunnel.service.publish("1001")
        after = [await anext(stream) for _ in range(4)]
    # The replay comes first (it precedes "attached"), then the recovery notice, then live events.
    assert [(e.type, e.seq) for e in after] == [
        ("dialog.updated", 4),
        ("dialog.updated", 5),
        ("alert", 5),
        ("dialog.updated", 6),
    ]
    assert json.loads(after[2].json)["data"] == {"kind": "connector_recovered"}
    assert tunnel.relay.stats.requests_lost == 1
    assert tunnel.relay.stats.reattachments == 1


async def test_safe_request_is_retried_on_another_connector_when_its_connection_dies(tunnel: Tunnel) -> None:
    clients = [tunnel.client(connector_id=name, connections=1) for name in ("c1", "c2")]
    for client in clients:
        await client.start()
    await eventually(lambda: tunnel.relay.connections_usable == 2)
    await eventually(lambda: all(client.connections_open == 1 for client in clients))
    async with asyncio.timeout(seconds(10)):
        in_flight = asyncio.create_task(tunnel.relay.request(request("/api/v1/slow"), timeout_s=seconds(30)))
        await tunnel.service.slow_started.wait()
        owner = next(client for client in clients if client.stats.requests == 1)
        await owner.abort()
        tunnel.service.release.set()
        response = await in_flight
    assert response.status == 200
    assert tunnel.relay.stats.requests_retried == 1
    assert sum(client.stats.requests for client in clients) == 2


async def test_restarted_edge_is_redialled_without_manual_action(
    make_relay: Callable[..., TunnelRelay], tunnel: Tunnel
) -> None:
    client: TunnelClient = tunnel.client(connections=2)
    await client.start()
    await tunnel.connected(2)
    port = tunnel.relay.port
    await tunnel.relay.abort()  # the edge process dies
    await eventually(lambda: client.connections_open == 0)

    tunnel.relay = make_relay(port=port)
    await tunnel.relay.start()
    await tunnel.connected(2)
    async with asyncio.timeout(seconds(5)):
        responses = await asyncio.gather(
            *(tunnel.relay.request(request(), timeout_s=seconds(5)) for _ in range(20))
        )
    assert {response.status for response in responses} == {200}
    assert client.stats.connections_open == 2


async def test_lost_connection_reattaches_on_the_connectors_other_connection_at_once(tunnel: Tunnel) -> None:
    client = tunnel.client(connections=2)
    await client.start()
    await tunnel.connected(2)
    async with asyncio.timeout(seconds(10)):
        stream = await tunnel.relay.open_events(principal(), since=None)
        tunnel.service.publish("1001")
        assert [(await anext(stream)).seq for _ in range(2)] == [0, 1]
        assert stream.link is not None
        stream.link.abort()  # that one connection breaks; the other stays up
        alert = await anext(stream)
        assert json.loads(alert.json)["data"] == {"kind": "connector_lost", "reattaching": True}
        for _ in range(3):
            tunnel.service.publish("1001")
        after = [await anext(stream) for _ in range(4)]
    # The recovery notice may come before or after these events (they race the re-attach); none is lost.
    assert [e.seq for e in after if e.type != "alert"] == [2, 3, 4]
    assert [json.loads(e.json)["data"]["kind"] for e in after if e.type == "alert"] == ["connector_recovered"]
    assert tunnel.relay.stats.reattachments == 1


async def test_a_peer_that_never_says_hello_is_dropped(
    make_relay: Callable[..., TunnelRelay], tunnel: Tunnel
) -> None:
    relay = make_relay(handshake_timeout_s=seconds(0.2))
    await relay.start()
    async with (
        asyncio.timeout(seconds(5)),
        connect(f"wss://localhost:{relay.port}/tunnel", ssl=tunnel.connector_ssl, proxy=None) as ws,
    ):
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert relay.stats.connections_refused == 1
    assert not relay.ready


async def test_a_refused_reattach_ends_the_stream_with_the_connectors_reason(tunnel: Tunnel) -> None:
    first = tunnel.client(connections=1)
    await first.start()
    await tunnel.connected(1)
    async with asyncio.timeout(seconds(10)):
        stream = await tunnel.relay.open_events(principal(), since=None)
        assert (await anext(stream)).type == "snapshot"
        await first.abort()
        tunnel.service.refuse_agents.add("1001")  # the restarted connector has no session for the agent
        await tunnel.client(connections=1).start()
        rest = [json.loads(event.json)["data"] async for event in stream]
    assert rest == [
        {"kind": "connector_lost", "reattaching": False},
        {"kind": "resync", "reason": "not_signed_in"},
    ]


async def test_streams_end_with_resync_when_the_edge_dies_under_them(tunnel: Tunnel) -> None:
    await tunnel.client(connections=1).start()
    await tunnel.connected(1)
    async with asyncio.timeout(seconds(10)):
        stream = await tunnel.relay.open_events(principal(), since=None)
        assert (await anext(stream)).type == "snapshot"
        await tunnel.relay.abort()
        rest = [json.loads(event.json)["data"] async for event in stream]
    assert rest == [{"kind": "resync", "reason": "edge_draining"}]
