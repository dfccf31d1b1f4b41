"""RFC 7395 framing: XMPP over WebSocket, every stanza, ``<open/>`` and ``<close/>`` a message of its own.

Sans-I/O: text messages in through :meth:`WebSocketFraming.receive_message`, messages out of
:meth:`WebSocketFraming.messages_to_send`.
"""

from __future__ import annotations

from connector.xmpp.xmlstream import parse_frame
from edge.tunnel.errors import ProtocolError
from fingress.emulator.xmpp import namespaces as ns
from fingress.emulator.xmpp.namespaces import qname
from fingress.emulator.xmpp.rendering import (
    escape_attribute,
    render_element,
    render_notification,
    render_stream_error,
)
from fingress.emulator.xmpp.session import OpenStream, Output, SendElement, SendNotification, ServerSession

OPEN_TAG = qname(ns.FRAMING, "open")
CLOSE_TAG = qname(ns.FRAMING, "close")
SUBPROTOCOL = "xmpp"


class WebSocketFraming:
    """Pumps one RFC 7395 session between WebSocket messages and a :class:`ServerSession`."""

    def __init__(self, session: ServerSession, *, max_stanza_bytes: int, max_depth: int) -> None:
        self.session = session
        self._max_stanza_bytes = max_stanza_bytes
        self._max_depth = max_depth

    @property
    def finished(self) -> bool:
        return self.session.finished

    def receive_message(self, message: str | bytes) -> None:
        """One WebSocket message from the client. RFC 7395 §3.2 allows text messages only."""
        if self.session.finished:
            return
        if isinstance(message, bytes):
            self.session.stream_failed("bad-format", "XMPP over WebSocket uses text messages")
            return
        try:
            element = parse_frame(message, max_bytes=self._max_stanza_bytes, max_depth=self._max_depth)
        except ProtocolError as error:
            self.session.stream_failed(error.reason, error.detail)
            return
        if element.tag == OPEN_TAG:
            self.session.stream_opened(dict(element.attrib))
        elif element.tag == CLOSE_TAG:
            self.session.stream_closed()
        else:
            self.session.stanza_received(element)
        # A stream restart needs nothing here: every message is a document of its own anyway.
        self.session.take_restart()

    def connection_lost(self) -> None:
        self.session.connection_lost()

    def messages_to_send(self) -> list[str]:
        """Text messages to send, in order."""
        messages: list[str] = []
        for output in self.session.take_outputs():
            messages.extend(self._render(output))
        return messages

    def _render(self, output: Output) -> list[str]:
        if isinstance(output, SendNotification):
            return [render_notification(output, content_namespace=None)]
        if isinstance(output, OpenStream):
            return [
                f'<open xmlns="{ns.FRAMING}" id="{escape_attribute(output.stream_id)}"'
                f' from="{escape_attribute(output.domain)}" version="1.0" xml:lang="en"/>'
            ]
        if isinstance(output, SendElement):
            return [render_element(output.element, content_namespace=None, declare_stream_prefix=True)]
        close = f'<close xmlns="{ns.FRAMING}"/>'
        if output.condition:
            return [render_stream_error(output.condition, output.text, declare_stream_prefix=True), close]
        return [close]
