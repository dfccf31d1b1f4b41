"""Driving a sans-I/O server session through its framing, reading its output as a client would."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from connector.xmpp.xmlstream import (
    StanzaReceived,
    StreamClosed,
    StreamEvent,
    XmlStreamParser,
    parse_frame,
)
from fingress.emulator.hub import Hub, Side
from fingress.emulator.xmpp.session import ServerSession
from fingress.emulator.xmpp.settings import XmppServerSettings
from fingress.emulator.xmpp.stream_framing import StreamFraming
from fingress.emulator.xmpp.websocket_framing import WebSocketFraming
from tests.emulator_xmpp import script
from tests.emulator_xmpp.fakes import RecordingCluster

SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"


def stream_error_condition(element: Element) -> str | None:
    """The condition of a ``<stream:error>``, else ``None``."""
    if element.tag != f"{{{script.STREAMS}}}error":
        return None
    for child in element:
        namespace, _, local = child.tag[1:].partition("}")
        if namespace == STREAM_ERRORS and local != "text":
            return local
    return None


@dataclass
class StreamHarness:
    """One RFC 6120 session: ``send`` client bytes, get back what the server said as parsed events."""

    hub: Hub
    cluster: RecordingCluster
    side: Side = "A"
    settings: XmppServerSettings = field(default_factory=XmppServerSettings)

    def __post_init__(self) -> None:
        self.wakes = 0
        self.session = ServerSession(
            side=self.side, hub=self.hub, cluster=self.cluster, settings=self.settings, wake=self._wake
        )
        self.framing = StreamFraming(
            self.session, max_stanza_bytes=self.settings.max_stanza_bytes, max_depth=self.settings.max_depth
        )
        self._reader = XmlStreamParser(max_stanza_bytes=1 << 22, max_depth=64)

    def _wake(self) -> None:
        self.wakes += 1

    def send(self, text: str | bytes) -> list[StreamEvent]:
        self.framing.receive_data(text.encode() if isinstance(text, str) else text)
        return self.read()

    def read(self) -> list[StreamEvent]:
        events = self._reader.feed(self.framing.data_to_send())
        if any(
            isinstance(event, StanzaReceived) and event.element.tag == f"{{{SASL}}}success"
            for event in events
        ):
            self._reader.reset()  # the server's next bytes are a new stream header
        return events

    def stanzas(self, text: str | bytes) -> list[Element]:
        return [event.element for event in self.send(text) if isinstance(event, StanzaReceived)]

    def login(self, agent_id: str = "6021", resource: str = "fingress-test", available: bool = True) -> None:
        """Open, authenticate, restart, bind, establish the session and (optionally) send presence."""
        self.send(script.stream_header(self.cluster.xmpp_domain(self.side)))
        self.send(script.auth(agent_id, f"secret-{agent_id}"))
        self.send(script.stream_header(self.cluster.xmpp_domain(self.side)))
        self.send(script.bind(resource))
        self.send(script.session())
        if available:
            self.send(script.presence())
        assert self.session.jid, "login did not bind"


def closing_condition(events: list[StreamEvent]) -> str | None:
    """The stream-error condition the server closed with (``""`` for a clean close); fails if it did not."""
    assert events, "nothing sent"
    assert isinstance(events[-1], StreamClosed), f"stream not closed: {events}"
    for event in events:
        if isinstance(event, StanzaReceived) and (condition := stream_error_condition(event.element)):
            return condition
    return ""


@dataclass
class WebSocketHarness:
    """One RFC 7395 session: ``send`` client messages, get back the server's messages as elements."""

    hub: Hub
    cluster: RecordingCluster
    side: Side = "A"
    settings: XmppServerSettings = field(default_factory=XmppServerSettings)

    def __post_init__(self) -> None:
        self.session = ServerSession(
            side=self.side, hub=self.hub, cluster=self.cluster, settings=self.settings
        )
        self.framing = WebSocketFraming(
            self.session, max_stanza_bytes=self.settings.max_stanza_bytes, max_depth=self.settings.max_depth
        )

    def send(self, message: str | bytes) -> list[Element]:
        self.framing.receive_message(message)
        return [parse_frame(text) for text in self.framing.messages_to_send()]
