"""Requests and events through a real tunnel on loopback (mTLS, websockets both ends)."""

from __future__ import annotations

import asyncio
import json

import pytest

from edge.tunnel.errors import NotFound, Unauthorized, Unavailable, UpstreamError, UpstreamTimeout
from tests.support.timing import seconds
from tests.tunnel.conftest import Tunnel, eventually, principal, request


async def test_ready_only_while_a_connector_is_connected(tunnel: Tunnel) -> None:
    assert not tunnel.relay.ready
    with pytest.raises(Unavailable) as caught:
        await tunnel.relay.request(request(), timeout_s=seconds(1))
    assert caught.value.code == "no_connector"
    client = tunnel.client()
    await client.start()
    await tunnel.connected(2)
    assert tunnel.relay.ready
    assert tunnel.relay.stats.connections_open == 2
    await client.drain(timeout_s=seconds(2))
    await eventually(lambda: tunnel.relay.stats.connections_open == 0)
    assert not tunnel.relay.ready


async def test_request_round_trip_carries_principal_query_and_body(tunnel: Tunnel) -> None:
    await tunnel.client().start()
    await tunnel.connected()
    async with asyncio.timeout(seconds(5)):
        response = await tunnel.relay.request(
            request(method="PUT", body=b'{"state":"READY"}'), timeout_s=seconds(2)
        )
    assert response.status == 200
    assert json.loads(response.body) == {
        "method": "PUT",
        "path": "/api/v1/echo",
        "query": "x=1",
        "body": '{"state":"READY"}',
        "agent_id": "1001",
    }


async def test_two_hundred_concurrent_requests_spread_over_connections(tunnel: Tunnel) -> None:
    await tunnel.client(connections=2).start()
    await tunnel.connected(2)
    agents = [str(1000 + n % 20) for n in range(200)]
    async with asyncio.timeout(seconds(10)):
        responses = await asyncio.gather(
            *(tunnel.relay.request(request(agent=agent), timeout_s=seconds(5)) for agent in agents)
        )
    assert [json.loads(r.body)["agent_id"] for r in responses] == agents
    assert tunnel.service.handled == 200
    assert tunnel.relay.stats.requests == 200


async def test_connector_errors_arrive_as_the_same_api_error(tunnel: Tunnel) -> None:
    await tunnel.client().start()
    await tunnel.connected()
    async with asyncio.timeout(seconds(5)):
        with pytest.raises(NotFound) as missing:
            await tunnel.relay.request(request("/api/v1/missing"), timeout_s=seconds(2))
        with pytest.raises(UpstreamError) as crashed:
            await tunnel.relay.request(request("/api/v1/crash"), timeout_s=seconds(2))
    assert missing.value.code == "no_such_dialog"
    assert crashed.value.code == "connector_error"
    assert "secret" not in crashed.value.detail


async def test_agent_route_without_principal_is_rejected_by_the_connector(tunnel: Tunnel) -> None:
    await tunnel.client().start()
    await tunnel.connected()
    async with asyncio.timeout(seconds(5)):
        with pytest.raises(Unauthorized) as caught:
            await tunnel.relay.request(request(agent=None), timeout_s=seconds(2))
    assert caught.value.code == "principal_required"
    assert tunnel.service.handled == 0


async def test_unanswered_request_times_out_and_is_cancelled_on_the_connector(tunnel: Tunnel) -> None:
    client = tunnel.client(connections=1)
    await client.start()
    await tunnel.connected()
    async with asyncio.timeout(seconds(5)):
        with pytest.raises(UpstreamTimeout) as caught:
            await tunnel.relay.request(request("/api/v1/slow"), timeout_s=seconds(0.2))
    await eventually(lambda: tunnel.service.cancelled == 1)
    assert caught.value.code == "upstream_timeout"
    assert tunnel.relay.stats.request_timeouts == 1
    assert client.stats.requests_cancelled == 1


async def test_events_flow_in_order_to_every_stream(tunnel: Tunnel) -> None:
    await tunnel.client(connections=2).start()
    await tunnel.connected(2)
    agents = [str(2000 + n) for n in range(5)]
    async with asyncio.timeout(seconds(10)):
        streams = [await tunnel.relay.open_events(principal(a), since=None) for a in agents]
        seen: dict[str, list[int]] = {
            agent: [(await anext(stream)).seq] for agent, stream in zip(agents, streams, strict=True)
        }
        # Batches below the edge's per-stream bound: a consumer that keeps up loses nothing.
        for _ in range(8):
            for _ in range(50):
                for agent in agents:
                    tunnel.service.publish(agent)
            for agent, stream in zip(agents, streams, strict=True):
                for _ in range(50):
                    event = await anext(stream)
                    assert event.agent_id == agent
                    seen[agent].append(event.seq)
        for stream in streams:
            await stream.close()
    assert all(seqs == list(range(0, 401)) for seqs in seen.values())  # snapshot at 0, then 1..400
    assert tunnel.relay.stats.events_relayed == 5 * 401


async def test_open_events_resumes_after_since(tunnel: Tunnel) -> None:
    await tunnel.client().start()
    await tunnel.connected()
    for _ in range(5):
        tunnel.service.publish("1001")
    async with asyncio.timeout(seconds(5)):
        stream = await tunnel.relay.open_events(principal(), since=3)
        assert [(await anext(stream)).seq for _ in range(2)] == [4, 5]
        await stream.close()
        async with asyncio.timeout(seconds(2)):
            while not tunnel.service.detached:
                await tunnel.service.detach_seen.wait()
    assert tunnel.service.detached[0][0] == "1001"


async def test_attach_refusal_is_the_connectors_error(tunnel: Tunnel) -> None:
    await tunnel.client().start()
    await tunnel.connected()
    tunnel.service.refuse_agents.add("1001")
    async with asyncio.timeout(seconds(5)):
        with pytest.raises(NotFound) as caught:
            await tunnel.relay.open_events(principal(), since=None)
    assert caught.value.code == "not_signed_in"
    assert tunnel.relay.stats.streams_open == 0


async def test_connector_ends_a_stream(tunnel: Tunnel) -> None:
    await tunnel.client().start()
    await tunnel.connected()
    async with asyncio.timeout(seconds(5)):
        stream = await tunnel.relay.open_events(principal(), since=None)
        tunnel.service.publish("1001", "session.ended")
        tunnel.service.sinks["1001"][0].end()
        seen = [event.type async for event in stream]
    assert seen == ["snapshot", "session.ended"]


async def test_requests_and_events_interleave_across_two_connectors(tunnel: Tunnel) -> None:
    for name in ("c1", "c2"):
        await tunnel.client(connector_id=name, connections=2).start()
    await eventually(lambda: tunnel.relay.connections_usable == 4)
    agents = [str(3000 + n) for n in range(10)]
    async with asyncio.timeout(seconds(20)):
        streams = {a: await tunnel.relay.open_events(principal(a), since=None) for a in agents}

        async def consume(agent: str) -> list[int]:
            seqs = []
            async for event in streams[agent]:
                seqs.append(event.seq)
                if event.seq == 300:
                    break
            return seqs

        async def produce() -> None:
            for _ in range(300):
                for agent in agents:
                    tunnel.service.publish(agent)
                await asyncio.sleep(0)  # a trickle, as Finesse would send them

        consumers = [asyncio.create_task(consume(a)) for a in agents]
        requests = asyncio.gather(
            *(tunnel.relay.request(request(agent=agents[n % 10]), timeout_s=seconds(10)) for n in range(200))
        )
        _, responses = await asyncio.gather(produce(), requests)
        results = await asyncio.gather(*consumers)
    assert all(seqs == list(range(0, 301)) for seqs in results)
    assert [json.loads(r.body)["agent_id"] for r in responses] == [agents[n % 10] for n in range(200)]
    assert {client.stats.connections_open for client in tunnel.clients} == {2}
    assert all(client.stats.requests > 0 for client in tunnel.clients)  # both connectors got agents
