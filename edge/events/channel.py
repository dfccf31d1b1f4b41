"""What the event socket needs from its WebSocket beside plain ASGI, so that an open socket waits under
one task and one future: frames written at once from a callback (an event as the tunnel delivers it, a
heartbeat from a timer), and the client's messages handed to a callback rather than awaited.

The edge's own protocol (:class:`edge.events.protocol.EventSocketProtocol`) offers itself as the channel
under the scope extension :data:`EVENT_CHANNEL_EXTENSION`. Under any other ASGI server
:class:`AsgiChannel` does the same over ``receive`` and ``send``, with a task per read loop and per write
in flight: correct, and slower.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import Enum
from typing import Protocol

from starlette.types import Message, Scope
from starlette.websockets import WebSocket, WebSocketDisconnect

EVENT_CHANNEL_EXTENSION = "fingress.event_channel"


class WriteResult(Enum):
    WRITTEN = "written"
    """Handed to the transport (or, over plain ASGI, to a send of its own)."""
    FULL = "full"
    """Nothing written: the client reads too slowly for now (see ``when_writable``)."""
    GONE = "gone"
    """Nothing written, nor ever will be: the client left or the socket is closing."""


MessageListener = Callable[[Message], None]


class SocketChannel(Protocol):
    def write_text(self, text: str) -> WriteResult:
        """Send one text message now, unless the transport takes no more for now or the socket is over."""

    def when_writable(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once (soon, from the loop) when a write may succeed again, or the socket is
        gone (a write then says ``GONE``)."""

    def listen(self, listener: MessageListener | None) -> None:
        """Hand each ASGI message the client sends (``websocket.receive``, ``websocket.disconnect``) to
        ``listener`` as it arrives, those already waiting first; ``None`` stops."""


def channel_of(scope: Scope, websocket: WebSocket) -> SocketChannel:
    """The server's own channel when it offers one, else one over ASGI. Read it before the handshake's
    extensions are let go."""
    offered = scope.get("extensions", {}).get(EVENT_CHANNEL_EXTENSION)
    return offered if offered is not None else AsgiChannel(websocket)


class AsgiChannel:
    """A :class:`SocketChannel` over plain ASGI, for servers that offer none: a write runs as a send in a
    task of its own (a second one while it is in flight is ``FULL``), and a task reads the client."""

    __slots__ = ("_gone", "_on_writable", "_reader", "_sending", "_websocket")

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._gone = False
        self._sending: asyncio.Task[None] | None = None
        self._on_writable: Callable[[], None] | None = None
        self._reader: asyncio.Task[None] | None = None

    def write_text(self, text: str) -> WriteResult:
        if self._gone:
            return WriteResult.GONE
        if self._sending is not None:
            return WriteResult.FULL
        self._sending = asyncio.get_running_loop().create_task(self._send(text))
        return WriteResult.WRITTEN

    def when_writable(self, callback: Callable[[], None]) -> None:
        if self._sending is None:
            asyncio.get_running_loop().call_soon(callback)
        else:
            self._on_writable = callback

    def listen(self, listener: MessageListener | None) -> None:
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if listener is not None:
            self._reader = asyncio.get_running_loop().create_task(self._read(listener))

    async def _send(self, text: str) -> None:
        try:
            await self._websocket.send_text(text)
        except (WebSocketDisconnect, OSError, RuntimeError):
            self._gone = True
        finally:
            self._sending = None
            callback, self._on_writable = self._on_writable, None
            if callback is not None:
                callback()

    async def _read(self, listener: MessageListener) -> None:
        while True:
            try:
                message = await self._websocket.receive()
            except (WebSocketDisconnect, OSError, RuntimeError):
                message = {"type": "websocket.disconnect", "code": 1006}
            listener(message)
            if message["type"] == "websocket.disconnect":
                return
