"""A connector that drains is drained as a whole: its event streams never move onto a connection of it
that is going away too. They move to another connector's connection, to a fresh connection of the same
connector, or, when a connector let only one connection go, to the sibling that stays."""

from __future__ import annotations

import asyncio
import json

from tests.relay_drain.watch import AGENTS, edge_link_of, hold_open, kinds, open_streams, take
from tests.support.timing import seconds
from tests.tunnel.conftest import Tunnel, eventually


async def test_both_connections_draining_move_no_stream_onto_the_draining_sibling(tunnel: Tunnel) -> None:
    client = tunnel.client(connector_id="c1", connections=2)
    await client.start()
    await tunnel.connected(2)
    async with asyncio.timeout(seconds(15)):
        streams = await open_streams(tunnel.relay, AGENTS)
        assert all(link.streams for link in tunnel.relay.links)  # both connections carry streams
        held = await hold_open(tunnel, client, AGENTS[0])
        draining = asyncio.create_task(client.drain(timeout_s=seconds(10)))
        await eventually(lambda: all(link.protocol.peer_draining for link in tunnel.relay.links))
        assert tunnel.relay.stats.reattachments == 0
        assert client.stats.attachments == len(AGENTS)  # nothing re-attached on the connector
        # Until its connections close, the draining connector keeps serving the streams where they are.
        for agent in AGENTS:
            tunnel.service.publish(agent)
        during = {agent: kinds(await take(stream, 1)) for agent, stream in streams.items()}

        tunnel.service.release.set()
        assert {response.status for response in await asyncio.gather(*held)} == {200}
        await draining
        # No connector left: each stream waits, as after a lost connection.
        lost = {agent: await take(stream, 1) for agent, stream in streams.items()}
        for agent in AGENTS:
            tunnel.service.publish(agent)  # while no connector is up

        fresh = tunnel.client(connector_id="c1", connections=2)
        await fresh.start()
        resumed = {agent: kinds(await take(stream, 2)) for agent, stream in streams.items()}
    assert during == {agent: [1] for agent in AGENTS}
    assert {json.dumps(json.loads(events[0].json)["data"]) for events in lost.values()} == {
        json.dumps({"kind": "connector_lost", "reattaching": False})
    }
    # The replay (before "attached"), then the recovery notice.
    assert resumed == {agent: [2, "connector_recovered"] for agent in AGENTS}
    assert tunnel.relay.stats.reattachments == len(AGENTS)
    assert fresh.stats.attachments == len(AGENTS)


async def test_streams_move_to_a_fresh_connection_of_the_draining_connector(tunnel: Tunnel) -> None:
    old = tunnel.client(connector_id="c1", connections=2)
    await old.start()
    await tunnel.connected(2)
    async with asyncio.timeout(seconds(15)):
        streams = await open_streams(tunnel.relay, AGENTS)
        held = await hold_open(tunnel, old, AGENTS[0])
        draining = asyncio.create_task(old.drain(timeout_s=seconds(10)))
        await eventually(lambda: all(link.protocol.peer_draining for link in tunnel.relay.links))
        assert tunnel.relay.stats.reattachments == 0

        fresh = tunnel.client(connector_id="c1", connections=1)  # the restarted connector
        await fresh.start()
        await tunnel.connected(1, fresh)
        # The old connections are still open (held), yet every stream moved to the fresh one.
        await eventually(lambda: fresh.stats.attachments == len(AGENTS))
        assert len(tunnel.relay.links) == 3
        for agent in AGENTS:
            tunnel.service.publish(agent)
        moved = {agent: kinds(await take(stream, 1)) for agent, stream in streams.items()}
        tunnel.service.release.set()
        await asyncio.gather(*held)
        await draining
        await eventually(lambda: len(tunnel.relay.links) == 1)
        for agent in AGENTS:
            tunnel.service.publish(agent)
        after = {agent: kinds(await take(stream, 1)) for agent, stream in streams.items()}
    assert moved == {agent: [1] for agent in AGENTS}
    assert after == {agent: [2] for agent in AGENTS}  # the old connections closed with nothing on them
    assert tunnel.relay.stats.reattachments == len(AGENTS)
    assert old.stats.attachments == len(AGENTS)


async def test_one_connection_draining_while_its_sibling_stays_moves_its_streams_there(
    tunnel: Tunnel,
) -> None:
    client = tunnel.client(connector_id="c1", connections=2)
    await client.start()
    await tunnel.connected(2)
    async with asyncio.timeout(seconds(15)):
        streams = await open_streams(tunnel.relay, AGENTS)
        going, staying = client.links
        gone = edge_link_of(tunnel.relay, going)
        stays = edge_link_of(tunnel.relay, staying)
        moving = {stream.agent_id for stream in gone.streams.values()}
        assert 0 < len(moving) < len(AGENTS)
        tunnel.service.publish(AGENTS[0])
        await going.drain(timeout_s=seconds(5))  # only this one; the client redials its slot
        for agent in AGENTS:
            tunnel.service.publish(agent)
        seen = {
            agent: kinds(await take(stream, 2 if agent == AGENTS[0] else 1))
            for agent, stream in streams.items()
        }
        await eventually(lambda: client.connections_open == 2)
    assert seen == {agent: [1, 2] if agent == AGENTS[0] else [1] for agent in AGENTS}  # no alert, no gap
    assert {stream.link for stream in streams.values()} == {stays}
    assert stays.takes_streams
    assert tunnel.relay.stats.reattachments == len(moving)
    assert client.stats.attachments == len(AGENTS) + len(moving)


async def test_streams_of_a_draining_connector_move_to_another_connector_at_once(tunnel: Tunnel) -> None:
    draining_client = tunnel.client(connector_id="c1", connections=2)
    other = tunnel.client(connector_id="c2", connections=1)
    await draining_client.start()
    await tunnel.connected(2, draining_client)
    await other.start()
    await tunnel.connected(1, other)
    await eventually(lambda: tunnel.relay.connections_usable == 3)
    async with asyncio.timeout(seconds(15)):
        streams = await open_streams(tunnel.relay, AGENTS)
        c1_links = [link for link in tunnel.relay.links if link.connector_id == "c1"]
        on_c1 = [stream.agent_id for link in c1_links for stream in link.streams.values()]
        assert 0 < len(on_c1) < len(AGENTS)
        held = await hold_open(tunnel, draining_client, on_c1[0])
        draining = asyncio.create_task(draining_client.drain(timeout_s=seconds(10)))
        await eventually(lambda: tunnel.relay.stats.reattachments == len(on_c1))
        # Moved while the draining connections are still open, each stream once.
        assert all(link in tunnel.relay.links and not link.streams for link in c1_links)
        assert {stream.link.connector_id for stream in streams.values() if stream.link} == {"c2"}
        for agent in AGENTS:
            tunnel.service.publish(agent)
        seen = {agent: kinds(await take(stream, 1)) for agent, stream in streams.items()}
        tunnel.service.release.set()
        await asyncio.gather(*held)
        await draining
    assert seen == {agent: [1] for agent in AGENTS}
    assert other.stats.attachments == len(AGENTS)
    assert draining_client.stats.attachments == len(on_c1)
