"""Scripted XMPP servers on loopback (a seam we own): real TLS and real WebSocket servers that play the
server's side of a login from :mod:`tests.xmpp.transcripts`, then misbehave on purpose (stay silent, drop
the connection, send hostile XML). Everything the client sent is kept in ``received``."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import websockets
from websockets.asyncio.server import ServerConnection
from websockets.typing import Subprotocol

from connector.xmpp.endpoint import XmppEndpoint
from tests.xmpp import transcripts as t

Behaviour = Literal["silent", "drop", "hostile", "mute", "big", "pong", "deaf"]
PING_ID = re.compile(r"<iq[^>]* id=\"(fx\d+)\"[^>]*><ping ")
# A notification far larger than one TLS record or read (but within the default stanza limit).
BIG_TEXT = "<Update>" + "&<>x" * 12_000 + "</Update>"  # ~170 KB once escaped
BIG_ITEM = (
    f"<message xmlns='jabber:client' from='pubsub.{t.DOMAIN}'>"
    "<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='/big'><item id='big'>"
    "<notification xmlns='urn:xmpp:push:0'>"
    + BIG_TEXT.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    + "</notification></item></items></event></message>"
)
STREAM_HOSTILE = "<!DOCTYPE x [<!ENTITY a 'b'>]>"
WS_HOSTILE = "<!DOCTYPE x [<!ENTITY a 'b'>]><message>&a;</message>"

# (what the client must have sent, what the server answers): the login, turn by turn.
STREAM_SCRIPT = [
    ("<stream:stream", [t.HEADER + t.PLAIN_FEATURES]),
    ("</auth>", [t.SUCCESS]),
    ("<stream:stream", [t.HEADER + t.BIND_FEATURES]),
    ("</bind>", [t.BIND_RESULT]),
    ("<session", [t.SESSION_RESULT]),
    ("<presence", []),
]
WS_SCRIPT = [
    ("<open", t.WS_LOGIN[0:2]),
    ("</auth>", [t.WS_LOGIN[2]]),
    ("<open", t.WS_LOGIN[3:5]),
    ("</bind>", [t.WS_LOGIN[5]]),
    ("<session", [t.WS_LOGIN[6]]),
    ("<presence", []),
]


@dataclass
class ScriptedServer:
    """What the client sent (``received``) and whether it logged in (``logged_in``)."""

    behaviour: Behaviour
    received: list[str] = field(default_factory=list)
    logged_in: asyncio.Event = field(default_factory=asyncio.Event)
    pings_answered: int = 0
    three_pings_answered: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when the test is done with the server: a handler that waits on nothing else ends then.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    endpoint: XmppEndpoint | None = None

    @property
    def text(self) -> str:
        return "".join(self.received)

    async def play(
        self,
        script: list[tuple[str, list[str]]],
        receive: Callable[[], Awaitable[str | None]],
        send: Callable[[list[str]], Awaitable[None]],
        abort: Callable[[], None],
        hostile: str,
    ) -> None:
        if self.behaviour == "mute":  # accepts the connection, never says a word
            while await receive() is not None:
                pass
            return
        position = 0
        for trigger, answer in script:
            while (found := self.text.find(trigger, position)) < 0:
                data = await receive()
                if data is None:
                    return
                self.received.append(data)
            position = found + len(trigger)
            await send(answer)
        self.logged_in.set()
        if self.behaviour == "drop":
            abort()
            return
        if self.behaviour == "hostile":
            await send([hostile])
        if self.behaviour == "big":
            await send([BIG_ITEM, BIG_ITEM])
        if self.behaviour == "deaf":  # stops reading: the client's writes back up
            await self.stopping.wait()
            abort()  # a graceful close would first read everything the client queued
            return
        while (data := await receive()) is not None:  # "silent": never answers a ping
            self.received.append(data)
            if self.behaviour == "pong":
                await self._answer_pings(data, send)

    async def _answer_pings(self, data: str, send: Callable[[list[str]], Awaitable[None]]) -> None:
        for ping_id in PING_ID.findall(data):
            await send([f"<iq xmlns='jabber:client' type='result' id='{ping_id}'/>"])
            self.pings_answered += 1
            if self.pings_answered >= 3:
                self.three_pings_answered.set()


@contextlib.asynccontextmanager
async def tls_server(behaviour: Behaviour, context: ssl.SSLContext) -> AsyncIterator[ScriptedServer]:
    scripted = ScriptedServer(behaviour)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def receive() -> str | None:
            try:
                data = await reader.read(65536)
            except (OSError, ssl.SSLError):
                return None
            return data.decode() if data else None

        async def send(pieces: list[str]) -> None:
            writer.write("".join(pieces).encode())
            await writer.drain()

        try:
            await scripted.play(STREAM_SCRIPT, receive, send, writer.transport.abort, STREAM_HOSTILE)
        finally:
            writer.transport.abort()
            scripted.disconnected.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    scripted.endpoint = XmppEndpoint(
        host="127.0.0.1", port=port, transport="tls", server_hostname="localhost"
    )
    async with server:
        try:
            yield scripted
        finally:
            scripted.stopping.set()
            server.close()


@contextlib.asynccontextmanager
async def websocket_server(
    behaviour: Behaviour, context: ssl.SSLContext, *, subprotocol: str | None = "xmpp"
) -> AsyncIterator[ScriptedServer]:
    scripted = ScriptedServer(behaviour)

    async def handle(connection: ServerConnection) -> None:
        async def receive() -> str | None:
            try:
                message = await connection.recv()
            except websockets.exceptions.ConnectionClosed:
                return None
            return message if isinstance(message, str) else message.decode()

        async def send(pieces: list[str]) -> None:
            for piece in pieces:
                await connection.send(piece)

        try:
            await scripted.play(WS_SCRIPT, receive, send, connection.transport.abort, WS_HOSTILE)
        finally:
            scripted.disconnected.set()

    async with websockets.serve(
        handle,
        "127.0.0.1",
        0,
        ssl=context,
        # None: a server that ignores the subprotocol the client asks for.
        subprotocols=[Subprotocol(subprotocol)] if subprotocol else None,
        ping_interval=None,
        compression=None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        scripted.endpoint = XmppEndpoint(
            host="127.0.0.1", port=port, path="/ws/", server_hostname="localhost"
        )
        try:
            yield scripted
        finally:
            scripted.stopping.set()
