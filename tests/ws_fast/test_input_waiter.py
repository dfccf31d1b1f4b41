"""``WebSocketPipe.input_waiter``: when a reader may skip waiting, and that nothing the protocol queued
(a pong) waits behind it. A reader that awaits the waiter before each ``receive`` only calls ``receive``
when something came, so answers are written before a message is returned, not at the next call."""

from __future__ import annotations

import asyncio

from connector.xmpp.websocket_pipe import WebSocketPipe
from tests.ws_fast.script import URI, XMPP, ScriptedPipe, client_frames, frame, run, text


class _WaitingPipe(ScriptedPipe):
    """The scripted pipe, saying "wait on this" whenever a read would find nothing."""

    def __init__(self, stream: bytes, marker: asyncio.Future[None]) -> None:
        super().__init__(stream)
        self.marker = marker

    def input_waiter(self) -> asyncio.Future[None] | None:
        return None if self._chunks else self.marker


def _open(stream: bytes) -> tuple[WebSocketPipe, _WaitingPipe]:
    loop = asyncio.new_event_loop()  # only for making the marker: nothing here runs on a loop
    marker: asyncio.Future[None] = loop.create_future()
    loop.close()
    pipe = _WaitingPipe(stream, marker)
    websocket = run(WebSocketPipe.handshake(pipe, URI, subprotocol=XMPP, max_message_bytes=1000))
    return websocket, pipe


def test_a_ping_that_came_with_a_message_is_answered_before_the_message_is_returned() -> None:
    websocket, pipe = _open(frame(0x9, b"are you there") + text("hello"))
    assert run(websocket.receive()) == "hello"
    assert client_frames(b"".join(pipe.written)) == [(0xA, b"are you there", True)]
    assert websocket.input_waiter() is pipe.marker  # nothing left to do: wait for the wire


def test_no_waiting_while_a_message_is_queued_or_data_is_buffered() -> None:
    websocket, pipe = _open(text("one") + text("two"))
    assert websocket.input_waiter() is None  # the chunk is buffered below
    assert run(websocket.receive()) == "one"
    assert websocket.input_waiter() is None  # "two" came in the same chunk
    assert run(websocket.receive()) == "two"
    assert websocket.input_waiter() is pipe.marker


def test_no_waiting_once_the_connection_is_closing() -> None:
    websocket, pipe = _open(frame(0x8, (1000).to_bytes(2, "big")))
    assert run(websocket.receive()) is None
    assert websocket.input_waiter() is None  # receive() says at once that it has ended
    assert [written[0] for written in client_frames(b"".join(pipe.written))] == [0x8]
