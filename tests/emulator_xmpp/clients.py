"""Hand-driven XMPP clients over the real transports (TLS stream, WebSocket), for what slixmpp cannot do:
stall, send garbage, vanish."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from xml.etree.ElementTree import Element

import websockets
from websockets.asyncio.client import ClientConnection

from connector.xmpp.xmlstream import StanzaReceived, StreamClosed, StreamEvent, XmlStreamParser, parse_frame
from tests.emulator_xmpp import script
from tests.emulator_xmpp.fakes import DOMAINS
from tests.emulator_xmpp.harness import SASL, stream_error_condition
from tests.support.timing import seconds

NOTIFICATION = "{urn:xmpp:push:0}notification"


def assert_finesse_presence(element: Element, *, domain: str, available: bool = True) -> None:
    """``element`` is the ``finesse`` user's presence on ``domain`` (the webapp up or down)."""
    assert element.tag == "{jabber:client}presence", element.tag
    assert element.get("from") == f"finesse@{domain}/finesse"
    assert element.get("type") == (None if available else "unavailable")


class TlsStreamClient:
    """An RFC 6120 client over direct TLS that reads only when asked to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._parser = XmlStreamParser(max_stanza_bytes=1 << 24, max_depth=64)
        self._events: list[StreamEvent] = []

    @classmethod
    async def connect(cls, port: int, context: ssl.SSLContext) -> TlsStreamClient:
        async with asyncio.timeout(seconds(5)):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, server_hostname=DOMAINS["A"]
            )
        return cls(reader, writer)

    async def send(self, text: str | bytes) -> None:
        self.writer.write(text.encode() if isinstance(text, str) else text)
        await self.writer.drain()

    async def next_event(self) -> StreamEvent | None:
        """The next thing the server said; ``None`` when the connection ended."""
        async with asyncio.timeout(seconds(5)):
            while not self._events:
                try:
                    data = await self.reader.read(65536)
                except (ConnectionError, ssl.SSLError):
                    return None
                if not data:
                    return None
                self._events.extend(self._parser.feed(data))
        event = self._events.pop(0)
        if isinstance(event, StanzaReceived) and event.element.tag == f"{{{SASL}}}success":
            self._parser.reset()
        return event

    async def next_stanza(self) -> Element:
        while True:
            event = await self.next_event()
            assert event is not None, "connection ended"
            if isinstance(event, StanzaReceived):
                return event.element
            assert not isinstance(event, StreamClosed), "stream closed"

    async def closing_condition(self) -> str:
        """Read until the server ends the stream; its stream-error condition (``""`` if none)."""
        condition = ""
        while (event := await self.next_event()) is not None and not isinstance(event, StreamClosed):
            if isinstance(event, StanzaReceived):
                condition = stream_error_condition(event.element) or condition
        return condition

    async def login(
        self,
        agent_id: str = "6021",
        resource: str = "raw",
        *,
        password: str = "",
        domain: str = DOMAINS["A"],
        webapp_up: bool = True,
    ) -> None:
        """Sign in and send initial presence; with ``webapp_up``, also read the ``finesse`` user's
        available presence that follows it."""
        await self.send(script.stream_header(domain))
        await self.next_stanza()  # features
        await self.send(script.auth(agent_id, password or f"secret-{agent_id}"))
        assert (await self.next_stanza()).tag == f"{{{SASL}}}success"
        await self.send(script.stream_header(domain))
        await self.next_stanza()  # features
        await self.send(script.bind(resource))
        assert (await self.next_stanza()).get("type") == "result"
        await self.send(script.presence())
        if webapp_up:
            assert_finesse_presence(await self.next_stanza(), domain=domain)

    def abort(self) -> None:
        self.writer.transport.abort()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(seconds(2)):
                await self.writer.wait_closed()


class WebSocketClient:
    """An RFC 7395 client with the ``websockets`` library."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    @classmethod
    async def connect(cls, port: int, context: ssl.SSLContext) -> WebSocketClient:
        async with asyncio.timeout(seconds(5)):
            connection = await websockets.connect(
                f"wss://localhost:{port}/ws/", ssl=context, subprotocols=[websockets.Subprotocol("xmpp")]
            )
        return cls(connection)

    async def send(self, text: str | bytes) -> None:
        await self.connection.send(text)

    async def next_element(self) -> Element | None:
        """The next message as an element; ``None`` when the WebSocket closed."""
        try:
            async with asyncio.timeout(seconds(5)):
                message = await self.connection.recv()
        except websockets.ConnectionClosed:
            return None
        return parse_frame(message)

    async def closing_condition(self) -> str:
        """Read until ``<close/>``; the stream-error condition before it (``""`` if none)."""
        condition = ""
        while (element := await self.next_element()) is not None:
            condition = stream_error_condition(element) or condition
            if element.tag == f"{{{script.FRAMING}}}close":
                return condition
        raise AssertionError("the WebSocket closed without <close/>")

    async def login(
        self,
        agent_id: str = "6021",
        resource: str = "ws",
        *,
        password: str = "",
        domain: str = DOMAINS["A"],
        webapp_up: bool = True,
    ) -> None:
        """Sign in and send initial presence; with ``webapp_up``, also read the ``finesse`` user's
        available presence that follows it."""
        await self.send(script.ws_open(domain))
        await self.next_element()  # <open/>
        await self.next_element()  # features
        await self.send(script.auth(agent_id, password or f"secret-{agent_id}"))
        success = await self.next_element()
        assert success is not None
        assert success.tag == f"{{{SASL}}}success"
        await self.send(script.ws_open(domain))
        await self.next_element()
        await self.next_element()
        await self.send(script.bind(resource, xmlns=script.WS_XMLNS))
        bound = await self.next_element()
        assert bound is not None
        assert bound.get("type") == "result"
        await self.send(script.presence(xmlns=script.WS_XMLNS))
        if webapp_up:
            presence = await self.next_element()
            assert presence is not None
            assert_finesse_presence(presence, domain=domain)

    async def close(self) -> None:
        async with asyncio.timeout(seconds(5)):
            await self.connection.close()
