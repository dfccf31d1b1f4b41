"""Heartbeats on the event socket only when it is quiet: a heartbeat once ``heartbeat_s`` passed without
any frame sent, none on a socket busy with events, and the app's rule (no frame for 2 × ``heartbeat_s``
→ reconnect) kept. Real edge, real TLS, the websockets client; times measured where the client reads.
Each with a stream that pushes (the relay's) and one that can only be iterated."""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from edge.events.socket import heartbeat_text
from tests.edge.conftest import Edge, EdgeFactory
from tests.edge.fakes import STREAM_KINDS, FakeStream, FakeUpstream
from tests.support.timing import seconds


@pytest.fixture(params=sorted(STREAM_KINDS))
def make_upstream(request: pytest.FixtureRequest) -> Callable[[], FakeUpstream]:
    return lambda: FakeUpstream(make_stream=STREAM_KINDS[request.param])


HEARTBEAT_S = seconds(0.3)
# Arrival times are the client's: a frame's trip over loopback is far below this slack.
EARLY_SLACK_S = 0.2 * HEARTBEAT_S


async def received(ws: ClientConnection) -> tuple[float, dict[str, Any]]:
    """The next frame and when it arrived."""
    frame = json.loads(await ws.recv())
    assert isinstance(frame, dict)
    return time.monotonic(), frame


async def quiet_edge(make_edge: EdgeFactory) -> Edge:
    edge: Edge = await make_edge(events={"heartbeat_s": HEARTBEAT_S})
    return edge


def test_a_heartbeat_is_one_compact_frame_with_the_last_seq() -> None:
    assert heartbeat_text(42, 1_795_255_200.1234) == (
        '{"seq":42,"type":"heartbeat","at":"2026-11-21T10:00:00.123Z","data":{}}'
    )


async def test_a_quiet_socket_gets_a_heartbeat_every_heartbeat_s(
    make_edge: EdgeFactory, client_ssl_context: ssl.SSLContext
) -> None:
    edge = await quiet_edge(make_edge)
    async with (
        asyncio.timeout(seconds(10)),
        connect(
            edge.ws_url + "?since=7", ssl=client_ssl_context, additional_headers=edge.auth(), proxy=None
        ) as ws,
    ):
        opened_at = time.monotonic()
        await edge.upstream.opened.get()
        arrivals = [opened_at]
        for _ in range(3):
            at, beat = await received(ws)
            assert (beat["type"], beat["seq"]) == ("heartbeat", 7)
            arrivals.append(at)
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert all(HEARTBEAT_S - EARLY_SLACK_S <= gap < 2 * HEARTBEAT_S for gap in gaps), gaps


async def test_a_busy_socket_gets_no_heartbeat(
    make_edge: EdgeFactory, client_ssl_context: ssl.SSLContext
) -> None:
    edge = await quiet_edge(make_edge)
    async with (
        asyncio.timeout(seconds(10)),
        connect(edge.ws_url, ssl=client_ssl_context, additional_headers=edge.auth(), proxy=None) as ws,
    ):
        stream: FakeStream = await edge.upstream.opened.get()
        # An event every quarter of heartbeat_s, for three heartbeat periods: every frame is an event.
        for seq in range(1, 13):
            stream.push(seq, "agent.updated")
            _, frame = await received(ws)
            assert (frame["type"], frame["seq"]) == ("agent.updated", seq)
            await asyncio.sleep(HEARTBEAT_S / 4)


async def test_after_a_burst_the_first_heartbeat_comes_heartbeat_s_after_the_last_event(
    make_edge: EdgeFactory, client_ssl_context: ssl.SSLContext
) -> None:
    edge = await quiet_edge(make_edge)
    async with (
        asyncio.timeout(seconds(10)),
        connect(edge.ws_url, ssl=client_ssl_context, additional_headers=edge.auth(), proxy=None) as ws,
    ):
        stream: FakeStream = await edge.upstream.opened.get()
        # A burst over 1.5 heartbeat periods: a fixed schedule from the socket's start would beat at
        # 1 (inside the burst) and 2 periods, half a period after the last event.
        last_event_at = 0.0
        for seq in range(1, 9):
            stream.push(seq, "dialog.updated")
            last_event_at, frame = await received(ws)
            assert (frame["type"], frame["seq"]) == ("dialog.updated", seq)
            await asyncio.sleep(HEARTBEAT_S / 5)
        beat_at, beat = await received(ws)
    assert (beat["type"], beat["seq"]) == ("heartbeat", 8)
    assert HEARTBEAT_S - EARLY_SLACK_S <= beat_at - last_event_at < 2 * HEARTBEAT_S
