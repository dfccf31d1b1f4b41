"""RFC 6120 framing: the whole stream is one XML document over a byte stream (direct TLS, port 5223).

Sans-I/O: bytes in through :meth:`StreamFraming.receive_data`, bytes out of
:meth:`StreamFraming.data_to_send`. Parsing is :class:`connector.xmpp.xmlstream.XmlStreamParser`'s job;
the protocol is :class:`~fingress.emulator.xmpp.session.ServerSession`'s.
"""

from __future__ import annotations

from connector.xmpp.xmlstream import (
    StanzaReceived,
    StreamClosed,
    StreamFailed,
    StreamOpened,
    XmlStreamParser,
)
from fingress.emulator.xmpp import namespaces as ns
from fingress.emulator.xmpp.namespaces import qname
from fingress.emulator.xmpp.rendering import (
    escape_attribute,
    render_element,
    render_notification,
    render_stream_error,
)
from fingress.emulator.xmpp.session import OpenStream, Output, SendElement, SendNotification, ServerSession

STREAM_TAG = qname(ns.STREAMS, "stream")


class StreamFraming:
    """Pumps one RFC 6120 stream between bytes and a :class:`ServerSession`. Never raises on input."""

    def __init__(self, session: ServerSession, *, max_stanza_bytes: int, max_depth: int) -> None:
        self.session = session
        self._max_stanza_bytes = max_stanza_bytes
        self._max_depth = max_depth
        self._parser = self._new_parser()

    def _new_parser(self) -> XmlStreamParser:
        return XmlStreamParser(max_stanza_bytes=self._max_stanza_bytes, max_depth=self._max_depth)

    @property
    def finished(self) -> bool:
        return self.session.finished

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the client."""
        if self.session.finished:
            return
        for event in self._parser.feed(data):
            if self.session.finished:
                return
            if isinstance(event, StreamOpened):
                if event.tag == STREAM_TAG:
                    self.session.stream_opened(event.attributes)
                else:
                    self.session.stream_failed("invalid-namespace", "expected <stream:stream>")
            elif isinstance(event, StanzaReceived):
                self.session.stanza_received(event.element)
            elif isinstance(event, StreamClosed):
                self.session.stream_closed()
            elif isinstance(event, StreamFailed):
                self.session.stream_failed(event.condition, event.text)
            if self.session.take_restart():
                # SASL succeeded: the client's next bytes start a new document. It must wait for our
                # <success/> before sending them, so nothing of this chunk is lost.
                self._parser.reset()
                return

    def receive_eof(self) -> None:
        """The client's byte stream ended (without or after closing the XML stream)."""
        self.session.connection_lost()

    def connection_lost(self) -> None:
        self.session.connection_lost()

    def data_to_send(self) -> bytes:
        """Bytes to write, in order; empty when there is nothing."""
        return "".join(self._render(output) for output in self.session.take_outputs()).encode("utf-8")

    def _render(self, output: Output) -> str:
        if isinstance(output, SendNotification):
            return render_notification(output, content_namespace=ns.CLIENT)
        if isinstance(output, OpenStream):
            return (
                "<?xml version='1.0'?>"
                f'<stream:stream xmlns="{ns.CLIENT}" xmlns:stream="{ns.STREAMS}"'
                f' id="{escape_attribute(output.stream_id)}" from="{escape_attribute(output.domain)}"'
                ' version="1.0" xml:lang="en">'
            )
        if isinstance(output, SendElement):
            return render_element(output.element, content_namespace=ns.CLIENT, declare_stream_prefix=False)
        error = (
            render_stream_error(output.condition, output.text, declare_stream_prefix=False)
            if output.condition
            else ""
        )
        return error + "</stream:stream>"
