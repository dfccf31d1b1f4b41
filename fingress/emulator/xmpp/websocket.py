"""XMPP over WebSocket (RFC 7395) at ``/ws/``, as Finesse serves it on 8445, for a Starlette app.

Messages go out through the socket's channel (:mod:`edge.events.channel`): under the edge's own uvicorn
protocol (:data:`WEBSOCKET_PROTOCOL`, what the emulator's listeners run) a write is handed to the transport
at once, without the ASGI ``send`` chain (Starlette's wrappers, uvicorn's flow-control wait: about a tenth
of the emulator's CPU in the benchmark's events scenario, py-spy, beside the TLS write itself); under any
other server the channel falls back to plain ASGI.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketState

from edge.events.channel import SocketChannel, WriteResult, channel_of
from edge.events.protocol import EventSocketProtocol
from fingress.emulator.hub import ClusterPort, Hub, Side
from fingress.emulator.xmpp.pump import ConnectionPump
from fingress.emulator.xmpp.session import ServerSession
from fingress.emulator.xmpp.settings import XmppServerSettings
from fingress.emulator.xmpp.websocket_framing import SUBPROTOCOL, WebSocketFraming

PATH = "/ws/"
# RFC 6455 close codes
PROTOCOL_ERROR = 1002
NORMAL_CLOSURE = 1000


class NotificationSocketProtocol(EventSocketProtocol):
    """The uvicorn WebSocket protocol (``uvicorn.Config(ws=...)``) the emulator's listeners run: the
    edge's, offering the direct channel ``serve_websocket`` writes through, with each message handed to
    TLS whole (a notification is one TLS record; the edge's small pieces save memory the emulator, a
    stand-in on the benchmark's machine, need not save at the price of CPU)."""

    __slots__ = ()
    tls_write_piece_bytes = None


WEBSOCKET_PROTOCOL = NotificationSocketProtocol


def websocket_route(
    *, side: Side, hub: Hub, cluster: ClusterPort, settings: XmppServerSettings | None = None
) -> WebSocketRoute:
    """The notification WebSocket of ``side``, to mount in that side's HTTPS app."""
    resolved = settings or XmppServerSettings()

    async def endpoint(websocket: WebSocket) -> None:
        await serve_websocket(websocket, side=side, hub=hub, cluster=cluster, settings=resolved)

    return WebSocketRoute(PATH, endpoint, name=f"finesse-notifications-{side}")


async def serve_websocket(
    websocket: WebSocket, *, side: Side, hub: Hub, cluster: ClusterPort, settings: XmppServerSettings
) -> None:
    """Serve one RFC 7395 session on ``websocket`` until either end closes it."""
    if SUBPROTOCOL not in websocket.scope.get("subprotocols", ()):
        # RFC 7395 §3.1: without the xmpp subprotocol there is no XMPP session (the handshake fails).
        await websocket.close(code=PROTOCOL_ERROR)
        return
    channel = channel_of(websocket.scope, websocket)  # before accept: the handshake's scope is let go
    await websocket.accept(subprotocol=SUBPROTOCOL)
    pump = ConnectionPump(idle_timeout_s=settings.idle_timeout_s, close_timeout_s=settings.close_timeout_s)
    session = ServerSession(side=side, hub=hub, cluster=cluster, settings=settings, wake=pump.wake)
    framing = WebSocketFraming(
        session, max_stanza_bytes=settings.max_stanza_bytes, max_depth=settings.max_depth
    )

    async def receive() -> bool:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            framing.connection_lost()
            return False
        text = message.get("text")
        framing.receive_message(text if text is not None else message.get("bytes") or b"")
        return True

    outbox = Outbox(channel)

    def write_now() -> bool:
        return outbox.write_now(framing.messages_to_send())

    async def flush() -> None:
        await outbox.flush(framing.messages_to_send)

    try:
        await pump.run(session=session, receive=receive, flush=flush, write_now=write_now)
    finally:
        if websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(settings.close_timeout_s):
                    await websocket.close(code=NORMAL_CLOSURE)


class Outbox:
    """Writes a session's messages in order, at once when the socket takes them (``write_now``, no task
    involved), else by waiting (``flush``, in the pump's writer task)."""

    def __init__(self, channel: SocketChannel) -> None:
        self._channel = channel
        # Messages taken from the framing that the socket did not take at once, oldest first.
        self._unsent: deque[str] = deque()

    def write_now(self, messages: list[str]) -> bool:
        """Write ``messages`` if the socket takes them; whether nothing is left for :meth:`flush`."""
        unsent = self._unsent
        for text in messages:
            # Once one waits, every later one waits behind it: messages leave in order.
            if unsent or self._channel.write_text(text) is not WriteResult.WRITTEN:
                unsent.append(text)
        return not unsent

    async def flush(self, more: Callable[[], list[str]]) -> None:
        """Write what :meth:`write_now` left, then ``more()``, waiting while the client reads slowly."""
        while self._unsent:
            await write_message(self._channel, self._unsent[0])
            self._unsent.popleft()
        for text in more():
            await write_message(self._channel, text)


async def write_message(channel: SocketChannel, text: str) -> None:
    """Send ``text``, waiting while the client reads too slowly; ``ConnectionResetError`` once the socket
    is gone (the pump then ends the session)."""
    while (result := channel.write_text(text)) is WriteResult.FULL:
        await _writable(channel)
    if result is WriteResult.GONE:
        raise ConnectionResetError("the client's WebSocket is closed")


async def _writable(channel: SocketChannel) -> None:
    writable: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def ready() -> None:
        if not writable.done():
            writable.set_result(None)

    channel.when_writable(ready)
    await writable
