"""A stalled consumer cannot make the edge or the connector buffer without bound."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from edge.relay.relay import TunnelRelay
from tests.support.timing import seconds
from tests.tunnel.conftest import Tunnel, eventually, principal


async def test_stalled_consumer_is_dropped_with_resync_and_resumes_without_loss(
    make_relay: Callable[..., TunnelRelay], tunnel: Tunnel
) -> None:
    await tunnel.relay.abort()
    tunnel.relay = make_relay(max_queued_events=16)
    await tunnel.relay.start()
    await tunnel.client(connections=1).start()
    await tunnel.connected(1)
    async with asyncio.timeout(seconds(10)):
        stalled = await tunnel.relay.open_events(principal(), since=None)
        for _ in range(1000):
            tunnel.service.publish("1001")
        # Wait for the edge's own bound, not only for the connector's detach: 1,000 events published at once
        # overflow the connector's bound (512) before the first reaches the edge, so the connector detaches
        # first; iterating before the edge had them let one more in (17 events, seen on uvloop).
        await eventually(lambda: stalled.ended and tunnel.service.detached != [])
        assert stalled.queued <= 17  # the bound, plus the resync marker
        delivered = [event async for event in stalled]
        await stalled.close()
    assert [event.seq for event in delivered[:-1]] == list(range(0, 16))
    marker = json.loads(delivered[-1].json)
    assert marker["type"] == "alert"
    assert marker["data"] == {"kind": "resync", "reason": "consumer_too_slow"}
    assert marker["seq"] == 15
    assert tunnel.relay.stats.dropped_attachments == 1
    assert tunnel.service.sinks["1001"] == []  # the connector stopped sending too

    async with asyncio.timeout(seconds(10)):
        resumed = await tunnel.relay.open_events(principal(), since=marker["seq"])
        assert [(await anext(resumed)).seq for _ in range(16)] == list(range(16, 32))
        await resumed.close()
    assert tunnel.relay.stats.streams_open == 0


async def test_a_replay_larger_than_the_connectors_bound_is_handed_over_with_resync(tunnel: Tunnel) -> None:
    await tunnel.client(connections=1, max_pending_events=8).start()
    await tunnel.connected(1)
    for _ in range(50):
        tunnel.service.publish("1001")
    async with asyncio.timeout(seconds(10)):
        stream = await tunnel.relay.open_events(principal(), since=0)  # no attach timeout: answered at once
        delivered = [event async for event in stream]
        await stream.close()
    assert [event.seq for event in delivered[:-1]] == list(range(1, 9))
    assert json.loads(delivered[-1].json)["data"] == {"kind": "resync", "reason": "connector_queue_full"}
    assert tunnel.clients[0].stats.dropped_attachments == 1
