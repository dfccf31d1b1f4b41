"""RFC 6455 client over a :class:`TlsPipe`, driven through the ``websockets`` package's sans-I/O
``ClientProtocol`` (opening handshake, framing, masking, ping answers, close handshake, size limits).

Using the protocol object directly, rather than ``websockets.connect``, keeps one connection to one
task and one small TLS buffer (see :mod:`connector.xmpp.tls_pipe`).
"""

from __future__ import annotations

import asyncio
import ssl

from websockets.client import ClientProtocol
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from connector.xmpp.tls_pipe import ReadInterrupted, TlsPipe


class WebSocketRefused(Exception):
    """The server did not complete the opening handshake as asked (status, subprotocol)."""


class WebSocketViolation(Exception):
    """We failed the connection because the server broke RFC 6455; ``condition`` is the XMPP stream-error
    condition it amounts to."""

    def __init__(self, condition: str, text: str) -> None:
        super().__init__(text)
        self.condition = condition
        self.text = text


# Close codes we send when failing a connection because of what the server sent.
_VIOLATIONS = {
    CloseCode.MESSAGE_TOO_BIG: "policy-violation",
    CloseCode.INVALID_DATA: "not-well-formed",  # text that is not UTF-8
    CloseCode.PROTOCOL_ERROR: "bad-format",
}


class WebSocketPipe:
    """Text and binary messages over one WebSocket connection."""

    def __init__(self, *, pipe: TlsPipe, protocol: ClientProtocol) -> None:
        self._pipe = pipe
        self._protocol = protocol
        self._fragments: list[bytes] = []
        self._fragment_opcode: Opcode | None = None
        self._backlog: list[Frame] = []  # frames read but not yet returned

    @classmethod
    async def connect(
        cls,
        uri: str,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        server_hostname: str,
        subprotocol: Subprotocol,
        max_message_bytes: int,
    ) -> WebSocketPipe:
        """TLS, then the HTTP upgrade asking for ``subprotocol``; raises :class:`WebSocketRefused` when the
        server refuses or picks another subprotocol, ``OSError`` / ``ssl.SSLError`` below that."""
        pipe = await TlsPipe.connect(host, port, ssl_context=ssl_context, server_hostname=server_hostname)
        protocol = ClientProtocol(parse_uri(uri), subprotocols=[subprotocol], max_size=max_message_bytes)
        websocket = cls(pipe=pipe, protocol=protocol)
        try:
            await websocket._open(subprotocol)
        except BaseException:
            pipe.abort()
            raise
        return websocket

    async def _open(self, subprotocol: Subprotocol) -> None:
        self._protocol.send_request(self._protocol.connect())
        await self._flush()
        while True:
            data = await self._pipe.read()
            if data is None:
                self._protocol.receive_eof()
            else:
                self._protocol.receive_data(data)
            events = self._protocol.events_received()
            if any(isinstance(event, Response) for event in events):
                refusal = self._protocol.handshake_exc
                if refusal is not None:
                    raise WebSocketRefused(str(refusal)) from refusal
                if self._protocol.subprotocol != subprotocol:
                    raise WebSocketRefused(f"server did not accept the {subprotocol!r} subprotocol")
                self._backlog = [event for event in events if isinstance(event, Frame)]
                return
            if data is None:
                raise WebSocketRefused("connection closed during the opening handshake")

    async def _flush(self) -> None:
        for chunk in self._protocol.data_to_send():
            if chunk:
                await self._pipe.write(chunk)
            else:
                self._pipe.close()  # the protocol asks to close the TCP connection

    def interrupt(self) -> None:
        """Make the waiting (or next waiting) :meth:`receive` raise ``ReadInterrupted``."""
        self._pipe.interrupt()

    async def receive(self) -> str | bytes | None:
        """The next message; ``None`` once the connection is closing or closed. Cancelling is safe, and
        so is :meth:`interrupt` (``ReadInterrupted``): received data waits in the TLS buffer or the
        protocol until the next call."""
        while True:
            frames, self._backlog = self._backlog, []
            frames += [event for event in self._protocol.events_received() if isinstance(event, Frame)]
            for index, frame in enumerate(frames):
                message = self._message(frame)
                if message is not None:
                    self._backlog = frames[index + 1 :]
                    return message
            await self._flush()  # pongs and close answers the protocol queued
            if self._protocol.state in (State.CLOSING, State.CLOSED):
                self._raise_if_violated()
                return None
            data = await self._pipe.read()
            if data is None:
                self._protocol.receive_eof()
            else:
                self._protocol.receive_data(data)

    def _raise_if_violated(self) -> None:
        sent, received = self._protocol.close_sent, self._protocol.close_rcvd
        if sent is not None and received is None and sent.code in _VIOLATIONS:
            raise WebSocketViolation(
                _VIOLATIONS[CloseCode(sent.code)], sent.reason or "WebSocket protocol violation"
            )

    def _message(self, frame: Frame) -> str | bytes | None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._fragment_opcode = frame.opcode
            self._fragments = [bytes(frame.data)]
        elif frame.opcode is Opcode.CONT and self._fragment_opcode is not None:
            self._fragments.append(bytes(frame.data))
        else:
            return None  # ping, pong, close: the protocol answers them itself
        if not frame.fin:
            return None
        payload = b"".join(self._fragments)
        opcode, self._fragment_opcode, self._fragments = self._fragment_opcode, None, []
        if opcode is Opcode.TEXT:
            return payload.decode("utf-8")  # the protocol has already checked it is UTF-8
        return payload

    async def send_text(self, messages: list[str]) -> None:
        if self._protocol.state is not State.OPEN:
            raise ConnectionResetError("the WebSocket is not open")
        for message in messages:
            self._protocol.send_text(message.encode("utf-8"))
        await self._flush()

    async def close(self, timeout_s: float) -> None:
        """Close handshake (bounded by ``timeout_s``), then the connection. Never raises."""
        try:
            async with asyncio.timeout(timeout_s):
                if self._protocol.state is State.OPEN:
                    self._protocol.send_close()
                    await self._flush()
                while self._protocol.state is not State.CLOSED:
                    try:
                        data = await self._pipe.read()
                    except ReadInterrupted:
                        continue  # a wake-up meant for the session, which has ended

                    if data is None:
                        self._protocol.receive_eof()
                    else:
                        self._protocol.receive_data(data)
                    self._protocol.events_received()
                    await self._flush()
        except (TimeoutError, OSError, ssl.SSLError):
            pass  # the peer does not cooperate: just hang up
        finally:
            self._pipe.close()
