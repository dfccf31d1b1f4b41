"""Graceful drain of either end: what is in flight completes, nothing new is taken."""

from __future__ import annotations

import asyncio
import json

import pytest

from edge.tunnel.errors import Unavailable
from tests.support.timing import seconds
from tests.tunnel.conftest import Tunnel, eventually, principal, request


async def test_connector_drain_finishes_in_flight_and_takes_nothing_new(tunnel: Tunnel) -> None:
    client = tunnel.client(connections=1)
    await client.start()
    await tunnel.connected(1)
    async with asyncio.timeout(seconds(10)):
        in_flight = asyncio.create_task(
            tunnel.relay.request(request("/api/v1/slow", method="POST"), timeout_s=seconds(10))
        )
        await tunnel.service.slow_started.wait()
        draining = asyncio.create_task(client.drain(timeout_s=seconds(5)))
        await eventually(lambda: not tunnel.relay.ready)
        with pytest.raises(Unavailable) as refused:
            await tunnel.relay.request(request(), timeout_s=seconds(1))
        assert refused.value.code == "no_connector"
        tunnel.service.release.set()
        response = await in_flight
        await draining
    assert response.status == 200
    assert tunnel.relay.stats.requests_lost == 0


async def test_connector_drain_moves_event_streams_without_loss_or_duplicate(tunnel: Tunnel) -> None:
    clients = [tunnel.client(connector_id=name, connections=1) for name in ("c1", "c2")]
    for client in clients:
        await client.start()
    await eventually(lambda: tunnel.relay.connections_usable == 2)
    async with asyncio.timeout(seconds(10)):
        stream = await tunnel.relay.open_events(principal(), since=None)
        assert (await anext(stream)).type == "snapshot"
        owner = next(client for client in clients if client.stats.attachments == 1)
        tunnel.service.publish("1001")
        draining = asyncio.create_task(owner.drain(timeout_s=seconds(5)))
        for _ in range(20):
            tunnel.service.publish("1001")
            await asyncio.sleep(0)  # let the drain and the move interleave with publishing
        await draining
        for _ in range(5):
            tunnel.service.publish("1001")
        seen = [(await anext(stream)) for _ in range(26)]
    assert [event.seq for event in seen] == list(range(1, 27))
    assert all(event.type != "alert" for event in seen)
    assert tunnel.relay.stats.reattachments == 1


async def test_edge_drain_finishes_in_flight_refuses_new_and_ends_streams(tunnel: Tunnel) -> None:
    client = tunnel.client(connections=2)
    await client.start()
    await tunnel.connected(2)
    async with asyncio.timeout(seconds(10)):
        stream = await tunnel.relay.open_events(principal(), since=None)
        assert (await anext(stream)).seq == 0
        tunnel.service.publish("1001")
        assert (await anext(stream)).seq == 1
        in_flight = asyncio.create_task(
            tunnel.relay.request(request("/api/v1/slow", method="POST"), timeout_s=seconds(10))
        )
        await tunnel.service.slow_started.wait()
        draining = asyncio.create_task(tunnel.relay.drain(timeout_s=seconds(5)))
        await eventually(lambda: not tunnel.relay.ready)
        with pytest.raises(Unavailable) as refused:
            await tunnel.relay.request(request(), timeout_s=seconds(1))
        assert refused.value.code == "draining"
        with pytest.raises(Unavailable):
            await tunnel.relay.open_events(principal("1002"), since=None)
        await eventually(lambda: all(link.edge_draining for link in client.links))
        tunnel.service.release.set()
        response = await in_flight
        await draining
        last = [event async for event in stream]
    assert response.status == 200
    assert [json.loads(event.json)["data"]["kind"] for event in last] == ["resync"]
    assert last[0].seq == 1
    await eventually(lambda: client.connections_open == 0)
