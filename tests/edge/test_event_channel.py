"""What the event socket reads and writes through (edge.events.channel): the trimmed protocol's inbox
handing messages to a listener and its write flag calling back, the plain-ASGI channel on its own
(against a recording WebSocket, a seam of ours), and the whole event socket served by uvicorn's own
WebSocket protocol, where the plain-ASGI channel is what it runs on."""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import pytest
from starlette.types import Message
from websockets.asyncio.client import connect

from edge import server as edge_server
from edge.events.channel import AsgiChannel, WriteResult
from edge.events.close_codes import CloseCode
from edge.events.protocol import Inbox, WritableFlag
from tests.edge.conftest import Edge, EdgeFactory
from tests.edge.fakes import FakeUpstream, PushingEventStream
from tests.edge.test_events import close_code, frame, next_stream
from tests.support.timing import seconds


async def test_an_inbox_hands_waiting_messages_then_each_new_one_to_its_listener() -> None:
    inbox: Inbox[str] = Inbox()
    inbox.put_nowait("waiting")
    heard: list[str] = []
    inbox.listen(heard.append)
    assert inbox.listening
    assert heard == ["waiting"]
    inbox.put_nowait("live")
    assert heard == ["waiting", "live"]
    assert inbox.empty()
    inbox.listen(None)
    inbox.put_nowait("queued again")
    assert heard == ["waiting", "live"]
    async with asyncio.timeout(seconds(1)):
        assert await inbox.get() == "queued again"


async def test_a_write_flag_calls_back_once_soon_when_set() -> None:
    flag = WritableFlag()
    calls: list[str] = []
    flag.call_when_set(lambda: calls.append("at once"))
    assert calls == []  # from the loop, not from inside the caller
    await asyncio.sleep(0)
    assert calls == ["at once"]
    flag.clear()
    flag.call_when_set(lambda: calls.append("later"))
    waiter = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    assert calls == ["at once"]
    flag.set()
    flag.set()
    async with asyncio.timeout(seconds(1)):
        assert await waiter
    await asyncio.sleep(0)
    assert calls == ["at once", "later"]


class RecordingWebSocket:
    """The two calls :class:`AsgiChannel` makes of a starlette WebSocket: sends wait for ``open`` and
    are recorded; ``receive`` hands out what the test put in ``incoming``."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.open = asyncio.Event()
        self.open.set()
        self.fail = False
        self.incoming: asyncio.Queue[Message] = asyncio.Queue()

    async def send_text(self, text: str) -> None:
        await self.open.wait()
        if self.fail:
            raise RuntimeError("the client is gone")
        self.sent.append(text)

    async def receive(self) -> Message:
        return await self.incoming.get()


def asgi_channel(websocket: RecordingWebSocket) -> AsgiChannel:
    return AsgiChannel(websocket)  # type: ignore[arg-type]  # the two calls it makes


async def test_the_asgi_channel_writes_one_at_a_time_and_calls_back_when_it_may_write_again() -> None:
    websocket = RecordingWebSocket()
    channel = asgi_channel(websocket)
    websocket.open.clear()
    assert channel.write_text("one") is WriteResult.WRITTEN
    assert channel.write_text("two") is WriteResult.FULL  # the first is still in flight
    writable = asyncio.Event()
    channel.when_writable(writable.set)
    websocket.open.set()
    async with asyncio.timeout(seconds(1)):
        await writable.wait()
    assert channel.write_text("two") is WriteResult.WRITTEN
    async with asyncio.timeout(seconds(1)):
        while len(websocket.sent) < 2:
            await asyncio.sleep(0)
    assert websocket.sent == ["one", "two"]


async def test_the_asgi_channel_says_gone_once_a_send_failed() -> None:
    websocket = RecordingWebSocket()
    websocket.fail = True
    channel = asgi_channel(websocket)
    assert channel.write_text("lost") is WriteResult.WRITTEN
    writable = asyncio.Event()
    channel.when_writable(writable.set)
    async with asyncio.timeout(seconds(1)):
        await writable.wait()
    assert channel.write_text("never") is WriteResult.GONE


async def test_the_asgi_channel_reads_the_client_until_it_leaves_or_the_listener_stops() -> None:
    websocket = RecordingWebSocket()
    channel = asgi_channel(websocket)
    heard: list[str] = []
    left = asyncio.Event()

    def listener(message: Message) -> None:
        heard.append(message["type"])
        if message["type"] == "websocket.disconnect":
            left.set()

    channel.listen(listener)
    websocket.incoming.put_nowait({"type": "websocket.receive", "text": "hi"})
    websocket.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
    async with asyncio.timeout(seconds(1)):
        await left.wait()
    assert heard == ["websocket.receive", "websocket.disconnect"]
    channel.listen(listener)
    channel.listen(None)  # stops the reader: what comes later is not heard
    websocket.incoming.put_nowait({"type": "websocket.receive", "text": "late"})
    await asyncio.sleep(0.01)
    assert heard == ["websocket.receive", "websocket.disconnect"]


@pytest.fixture
def uvicorn_own_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    """Edges started in this test serve WebSockets with uvicorn's own sans-I/O protocol, which offers
    the event socket no channel of its own."""
    original = edge_server._uvicorn_config

    def with_uvicorns_protocol(*args: Any, **kwargs: Any) -> Any:
        if "ws_protocol" in kwargs:
            kwargs["ws_protocol"] = "websockets-sansio"
        return original(*args, **kwargs)

    monkeypatch.setattr(edge_server, "_uvicorn_config", with_uvicorns_protocol)


@pytest.mark.usefixtures("uvicorn_own_protocol")
async def test_under_uvicorns_own_protocol_the_socket_relays_beats_and_closes_the_same(
    make_edge: EdgeFactory, client_ssl_context: ssl.SSLContext
) -> None:
    edge: Edge = await make_edge(
        FakeUpstream(make_stream=PushingEventStream), events={"heartbeat_s": seconds(0.1)}
    )
    url = edge.ws_url + "?since=4"
    async with (
        asyncio.timeout(seconds(10)),
        connect(url, ssl=client_ssl_context, additional_headers=edge.auth(), proxy=None) as ws,
    ):
        stream = await next_stream(edge)
        assert isinstance(stream, PushingEventStream)
        beat = await frame(ws)
        assert (beat["type"], beat["seq"]) == ("heartbeat", 4)
        for seq in range(5, 25):
            stream.push(seq, "dialog.updated", {"padding": "x" * 2000})
        seqs: list[int] = []
        while len(seqs) < 20:
            received = json.loads(await ws.recv())
            if received["type"] != "heartbeat":
                seqs.append(received["seq"])
        assert seqs == list(range(5, 25))
        stream.push(25, "session.ended")
        assert (await frame(ws))["type"] == "session.ended"
        assert await close_code(ws) == CloseCode.SESSION_ENDED
        await asyncio.wait_for(stream.closed.wait(), seconds(5))
