"""Helpers to watch event streams move between tunnel connections while a connector drains."""

from __future__ import annotations

import asyncio
import json

from connector.tunnel.client import TunnelClient
from connector.tunnel.link import ConnectorLink
from edge.relay.link import EdgeLink
from edge.relay.relay import TunnelRelay
from edge.relay.stream import RelayEventStream
from edge.tunnel.messages import AgentEvent, TunnelResponse
from tests.support.timing import seconds
from tests.tunnel.conftest import Tunnel, eventually, principal, request

AGENTS = [str(1001 + n) for n in range(8)]


async def open_streams(relay: TunnelRelay, agents: list[str]) -> dict[str, RelayEventStream]:
    """One confirmed stream per agent, its snapshot read."""
    streams = {}
    for agent in agents:
        stream = await relay.open_events(principal(agent), since=None)
        assert (await anext(stream)).type == "snapshot"
        streams[agent] = stream
    return streams


async def hold_open(tunnel: Tunnel, client: TunnelClient, agent: str) -> list[asyncio.Task[TunnelResponse]]:
    """One slow request in flight on each of ``client``'s connections (the relay sends each to the least
    loaded; ``agent`` must be one the client's connector owns): a draining connection then stays open
    until ``tunnel.service.release`` is set, so the edge hears every ``drain`` before any closes."""
    before = client.stats.requests
    count = len(client.links)
    tasks = [
        asyncio.create_task(
            tunnel.relay.request(request("/api/v1/slow", agent=agent, method="POST"), timeout_s=seconds(10))
        )
        for _ in range(count)
    ]
    await eventually(lambda: client.stats.requests == before + count)
    return tasks


def edge_link_of(relay: TunnelRelay, link: ConnectorLink) -> EdgeLink:
    """The edge's end of one of the connector's connections."""
    local = link.connection.local_address
    return next(edge for edge in relay.links if edge.connection.remote_address == local)


def kinds(events: list[AgentEvent]) -> list[object]:
    """What each event is: its seq, or the kind of an edge-made alert."""
    return [json.loads(e.json)["data"]["kind"] if e.type == "alert" else e.seq for e in events]


async def take(stream: RelayEventStream, count: int) -> list[AgentEvent]:
    return [await anext(stream) for _ in range(count)]
