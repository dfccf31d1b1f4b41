"""The two ways XMPP is framed, behind one small interface the client session drives.

* :class:`StreamFraming`: RFC 6120 over TCP/TLS, one long document rooted at ``<stream:stream>``.
* :class:`WebSocketFraming`: RFC 7395, every ``<open/>``, ``<close/>`` and stanza a text message of its
  own; stanzas carry ``xmlns="jabber:client"`` (Prosody closes the stream otherwise).

Both turn what arrives into :mod:`connector.xmpp.xmlstream` events (``StreamOpened``, ``StanzaReceived``,
``StreamClosed``, ``StreamFailed``) and never raise on hostile input. What they produce is text: the stream
framing's pieces are concatenated and UTF-8 encoded by the transport, the WebSocket framing's are messages.
"""

from __future__ import annotations

from typing import Protocol
from xml.etree.ElementTree import Element

from connector.xmpp import namespaces as ns
from connector.xmpp.namespaces import qname
from connector.xmpp.stanzas import stream_error
from connector.xmpp.xmlstream import (
    StanzaReceived,
    StreamClosed,
    StreamEvent,
    StreamFailed,
    StreamOpened,
    XmlStreamParser,
    parse_frame,
    serialize,
)
from edge.tunnel.errors import ProtocolError


def _attribute(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").replace("'", "&apos;")


class Framing(Protocol):
    def open(self, domain: str) -> None:
        """Queue the stream header (or ``<open/>``) addressed to ``domain``."""

    def restart(self, domain: str) -> None:
        """Start a new stream after SASL success: forget parser state and queue a new header."""

    def send(self, element: Element) -> None:
        """Queue one top-level element (stanza, SASL element, stream error)."""

    def close(self) -> None:
        """Queue the end of the stream."""

    def receive(self, data: bytes | str) -> list[StreamEvent]:
        """What the peer's ``data`` means; hostile input yields a :class:`StreamFailed` and then nothing."""

    def data_to_send(self) -> list[str]:
        """Everything queued, in order, emptying the queue."""


class StreamFraming:
    """RFC 6120 framing for direct TLS (Finesse port 5223)."""

    def __init__(self, *, max_stanza_bytes: int, max_depth: int) -> None:
        self._parser = XmlStreamParser(max_stanza_bytes=max_stanza_bytes, max_depth=max_depth)
        self._outgoing: list[str] = []
        self._header_expected = True

    def open(self, domain: str) -> None:
        self._header_expected = True
        self._outgoing.append(
            "<?xml version='1.0'?>"
            f"<stream:stream xmlns='{ns.CLIENT}' xmlns:stream='{ns.STREAMS}'"
            f" to='{_attribute(domain)}' version='1.0' xml:lang='en'>"
        )

    def restart(self, domain: str) -> None:
        self._parser.reset()
        self.open(domain)

    def send(self, element: Element) -> None:
        self._outgoing.append(serialize(element, parent_namespace=ns.CLIENT))

    def close(self) -> None:
        self._outgoing.append("</stream:stream>")

    def receive(self, data: bytes | str) -> list[StreamEvent]:
        raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
        events = self._parser.feed(raw)
        if not self._header_expected or not events:
            return events
        # The first thing in a stream must be the <stream:stream> header (RFC 6120 §4.2).
        first = events[0]
        self._header_expected = False
        if isinstance(first, StreamOpened) and first.tag != qname(ns.STREAMS, "stream"):
            return [StreamFailed("invalid-namespace", "the stream root is not <stream:stream>")]
        return events

    def data_to_send(self) -> list[str]:
        return _take_all(self._outgoing)


class WebSocketFraming:
    """RFC 7395 framing for XMPP over WebSocket (Finesse ``wss://…:8445/ws/``, subprotocol ``xmpp``)."""

    def __init__(self, *, max_stanza_bytes: int, max_depth: int) -> None:
        self._max_stanza_bytes = max_stanza_bytes
        self._max_depth = max_depth
        self._outgoing: list[str] = []
        self._ended = False

    def open(self, domain: str) -> None:
        self._outgoing.append(f'<open xmlns="{ns.FRAMING}" to="{_attribute(domain)}" version="1.0"/>')

    def restart(self, domain: str) -> None:
        self.open(domain)  # every message is a document of its own: no parser state to forget

    def send(self, element: Element) -> None:
        self._outgoing.append(serialize(element))

    def close(self) -> None:
        self._outgoing.append(f'<close xmlns="{ns.FRAMING}"/>')

    def receive(self, data: bytes | str) -> list[StreamEvent]:
        if self._ended:
            return []
        if isinstance(data, bytes):
            self._ended = True
            return [StreamFailed("bad-format", "XMPP over WebSocket uses text messages")]
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: websockets never delivers them, a caller might
            self._ended = True
            return [StreamFailed("not-well-formed", "text is not valid Unicode")]
        try:
            element = parse_frame(raw, max_bytes=self._max_stanza_bytes, max_depth=self._max_depth)
        except ProtocolError as error:
            self._ended = True
            return [StreamFailed(error.reason, error.detail)]
        if element.tag == qname(ns.FRAMING, "open"):
            return [StreamOpened(tag=element.tag, attributes=dict(element.attrib))]
        if element.tag == qname(ns.FRAMING, "close"):
            self._ended = True
            return [StreamClosed()]
        return [StanzaReceived(element)]

    def data_to_send(self) -> list[str]:
        return _take_all(self._outgoing)


def _take_all(queue: list[str]) -> list[str]:
    """``queue``'s items in a new list, ``queue`` emptied but kept: a fresh list left in its place would be
    young memory the garbage collector rescans for as long as the session stays idle."""
    items = queue.copy()
    queue.clear()
    return items


def send_stream_error(framing: Framing, condition: str) -> None:
    """Queue a stream error and the end of the stream (RFC 6120 §4.9.1.1)."""
    framing.send(stream_error(condition))
    framing.close()
