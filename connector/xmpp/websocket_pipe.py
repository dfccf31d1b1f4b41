"""RFC 6455 client over a :class:`TlsPipe`, driven through the ``websockets`` package's sans-I/O
``ClientProtocol`` (opening handshake, framing, masking, ping answers, close handshake, size limits).

Using the protocol object directly, rather than ``websockets.connect``, keeps one connection to one
task and one small TLS buffer (see :mod:`connector.xmpp.tls_pipe`).

Receiving has a fast path. Nearly every chunk of plaintext holds whole, final, unmasked text messages
with a 7- or 16-bit length: those are cut out and decoded here with a few byte comparisons each, instead
of through the protocol's generator-based parser, which costs several times more per message. The fast
path runs only while the protocol stands idle between frames (open, no fragmented message in progress,
no frame half-parsed) and stops at the first frame that is anything else (control frame, fragment,
partial frame, 64-bit length, mask, reserved bits, text that is not UTF-8, over the size limit): that
frame and the rest of the chunk go to the protocol, exactly as if there were no fast path, and the
protocol answers pings, fails the connection with the right close code, and so on. Frames the fast path
takes would have left the protocol's state untouched, so it cannot tell the difference.
:class:`_FrameBoundary` follows where the protocol's parser stands from the frame headers of what it was
given, so the fast path resumes at the first chunk that starts between two frames.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from typing import Protocol

from websockets.client import ClientProtocol
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import Event, State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from connector.xmpp.tls_pipe import ReadInterrupted, TlsPipe
from connector.xmpp.tls_sessions import TlsSessionCache


class WebSocketRefused(Exception):
    """The server did not complete the opening handshake as asked (status, subprotocol).
    ``response`` is the server's HTTP answer when one came: its ``status_code`` and ``headers`` (such
    as Retry-After) say why."""

    def __init__(self, text: str, *, response: Response | None = None) -> None:
        super().__init__(text)
        self.response = response


class WebSocketViolation(Exception):
    """We failed the connection because the server broke RFC 6455; ``condition`` is the XMPP stream-error
    condition it amounts to."""

    def __init__(self, condition: str, text: str) -> None:
        super().__init__(text)
        self.condition = condition
        self.text = text


class BytePipe(Protocol):
    """What a :class:`WebSocketPipe` runs over: :class:`TlsPipe`'s operations."""

    async def read(self) -> bytes | None: ...

    def input_waiter(self) -> asyncio.Future[None] | None: ...

    async def write(self, data: bytes) -> None: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


# Close codes we send when failing a connection because of what the server sent.
_VIOLATIONS = {
    CloseCode.MESSAGE_TOO_BIG: "policy-violation",
    CloseCode.INVALID_DATA: "not-well-formed",  # text that is not UTF-8
    CloseCode.PROTOCOL_ERROR: "bad-format",
}

# First header byte of a final frame without reserved bits (RFC 6455 §5.2), and the 16-bit length mark.
_FINAL_TEXT = 0x80 | Opcode.TEXT
_FINAL_BINARY = 0x80 | Opcode.BINARY
_LENGTH_16_BITS = 126
_MAX_16_BIT_LENGTH = 0xFFFF


class WebSocketPipe:
    """Text and binary messages over one WebSocket connection."""

    def __init__(self, *, pipe: BytePipe, protocol: ClientProtocol, fast_path: bool = True) -> None:
        """``fast_path=False`` leaves every byte to the protocol (a seam for tests and benchmarks)."""
        self._pipe = pipe
        self._protocol = protocol
        self._fragments: list[bytes] = []
        self._fragment_opcode: Opcode | None = None
        self._messages: deque[str | bytes] = deque()  # received, not yet returned
        self._fast_path = fast_path
        self._boundary = _FrameBoundary()
        # Whether the protocol was given bytes (or asked to act) since its output was last collected: only
        # then can it have queued an answer (pong, close). Collecting swaps in a new list; skipping that
        # when nothing can be queued keeps idle connections from holding fresh objects between messages.
        self._protocol_fed = True
        # The largest frame the protocol would accept outside a fragmented message.
        limits = (protocol.max_message_size, protocol.max_fragment_size, _MAX_16_BIT_LENGTH)
        self._fast_max_bytes = min(limit for limit in limits if limit is not None)

    @classmethod
    async def connect(
        cls,
        uri: str,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        server_hostname: str,
        subprotocol: Subprotocol | None,
        max_message_bytes: int,
        headers: Mapping[str, str] | None = None,
        tls_sessions: TlsSessionCache | None = None,
    ) -> WebSocketPipe:
        """TLS (resuming a session from ``tls_sessions`` when one is kept), then the HTTP upgrade (with
        ``headers`` added to the request) asking for ``subprotocol`` (``None``: for none); raises
        :class:`WebSocketRefused` when the server refuses or does not pick that subprotocol, ``OSError`` /
        ``ssl.SSLError`` below that."""
        pipe = await TlsPipe.connect(
            host, port, ssl_context=ssl_context, server_hostname=server_hostname, tls_sessions=tls_sessions
        )
        try:
            return await cls.handshake(
                pipe, uri, subprotocol=subprotocol, max_message_bytes=max_message_bytes, headers=headers
            )
        except BaseException:
            pipe.abort()
            raise

    @classmethod
    async def handshake(
        cls,
        pipe: BytePipe,
        uri: str,
        *,
        subprotocol: Subprotocol | None,
        max_message_bytes: int,
        headers: Mapping[str, str] | None = None,
        fast_path: bool = True,
    ) -> WebSocketPipe:
        """The opening handshake over an established ``pipe`` (see :meth:`connect`); on failure the
        caller still owns ``pipe``."""
        subprotocols = None if subprotocol is None else [subprotocol]
        protocol = ClientProtocol(parse_uri(uri), subprotocols=subprotocols, max_size=max_message_bytes)
        websocket = cls(pipe=pipe, protocol=protocol, fast_path=fast_path)
        await websocket._open(subprotocol, headers or {})
        return websocket

    async def _open(self, subprotocol: Subprotocol | None, headers: Mapping[str, str]) -> None:
        request = self._protocol.connect()
        request.headers.update(headers)
        self._protocol.send_request(request)
        await self._flush()
        received = bytearray()
        while True:
            data = await self._pipe.read()
            if data is None:
                self._protocol.receive_eof()
            else:
                received += data
                self._protocol.receive_data(data)
            events = self._protocol.events_received()
            response = next((event for event in events if isinstance(event, Response)), None)
            if response is not None:
                refusal = self._protocol.handshake_exc
                if refusal is not None:
                    raise WebSocketRefused(str(refusal), response=response) from refusal
                if subprotocol is not None and self._protocol.subprotocol != subprotocol:
                    raise WebSocketRefused(
                        f"server did not accept the {subprotocol!r} subprotocol", response=response
                    )
                # What followed the response's head (a 101 has no body) went to the frame parser.
                self._boundary.advance(bytes(received[received.find(b"\r\n\r\n") + 4 :]))
                self._take_protocol_frames(events)
                return
            if data is None:
                raise WebSocketRefused("connection closed during the opening handshake")

    async def _flush(self) -> None:
        await self._write(self._protocol.data_to_send())

    async def _write(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            if chunk:
                await self._pipe.write(chunk)
            else:
                self._pipe.close()  # the protocol asks to close the TCP connection

    def interrupt(self) -> None:
        """Make the waiting (or next waiting) :meth:`receive` raise ``ReadInterrupted``."""
        self._pipe.interrupt()

    @property
    def close_code(self) -> int | None:
        """The code of the server's close frame once the connection has ended (1006 when it ended
        without one, 1005 for a close frame without a code); ``None`` before."""
        return self._protocol.close_code

    def input_waiter(self) -> asyncio.Future[None] | None:
        """``None`` when :meth:`receive` may return at once; else a future that resolves when that may
        have changed (data came, the connection ended, :meth:`interrupt`). Awaiting it first, then
        calling :meth:`receive`, waits on that future alone rather than through this layer's and the
        TLS layer's coroutines (see :meth:`TlsPipe.input_waiter`)."""
        if self._messages or self._protocol_fed or self._protocol.state is not State.OPEN:
            return None
        return self._pipe.input_waiter()

    async def receive(self) -> str | bytes | None:
        """The next message; ``None`` once the connection is closing or closed. Cancelling is safe, and so is
        :meth:`interrupt` (``ReadInterrupted``): received data waits in the TLS buffer, the protocol
        or here until the next call. Raises :class:`WebSocketViolation` when we failed the connection
        because of what the server sent. Answers the protocol queued (pongs, close) are written before
        a message is returned."""
        protocol, messages = self._protocol, self._messages
        while True:
            if self._protocol_fed:
                self._protocol_fed = False
                answers = protocol.data_to_send()
                if answers:
                    await self._write(answers)
            if messages:
                return messages.popleft()
            if protocol.state is not State.OPEN:  # closing or closed (the handshake is over)
                self._raise_if_violated()
                return None
            data = await self._pipe.read()
            if data is None:
                protocol.receive_eof()
            elif not self._receive_data(data):
                continue  # the fast path took it all
            self._protocol_fed = True
            self._take_protocol_frames(protocol.events_received())

    def _receive_data(self, data: bytes) -> bool:
        """Take what the fast path can, give the rest to the protocol; whether the protocol got any."""
        protocol = self._protocol
        if (
            self._fast_path
            and self._boundary.at_boundary
            and protocol.current_size is None  # no fragmented message in progress
            and protocol.state is State.OPEN
            and not protocol.extensions
        ):
            taken = self._take_fast_frames(data)
            if taken == len(data):
                return False
            data = data[taken:]
        if self._fast_path:
            self._boundary.advance(data)
        protocol.receive_data(data)
        return True

    def _take_fast_frames(self, data: bytes) -> int:
        """Queue the messages of the whole, plain, final data frames at the start of ``data``; the number
        of bytes they took."""
        position, size, max_bytes, messages = 0, len(data), self._fast_max_bytes, self._messages
        while size - position >= 2:
            first, second = data[position], data[position + 1]
            if first != _FINAL_TEXT and first != _FINAL_BINARY:
                break
            if second < _LENGTH_16_BITS:  # also says: not masked (the mask bit is 0x80)
                start, length = position + 2, second
            elif second == _LENGTH_16_BITS:
                start = position + 4
                if start > size:
                    break
                length = (data[position + 2] << 8) | data[position + 3]
            else:
                break  # masked, or a 64-bit length
            end = start + length
            if end > size or length > max_bytes:
                break
            if first == _FINAL_TEXT:
                try:
                    messages.append(data[start:end].decode("utf-8"))
                except UnicodeDecodeError:
                    break  # the protocol fails the connection (below, in _take_frame)
            else:
                messages.append(data[start:end])
            position = end
        return position

    def _take_protocol_frames(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Frame) and not self._take_frame(event):
                return  # we failed the connection: what came after is not processed (RFC 6455 §7.1.7)

    def _take_frame(self, frame: Frame) -> bool:
        """Queue the message ``frame`` completes, if any; False when it fails the connection."""
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._fragment_opcode = frame.opcode
            self._fragments = [bytes(frame.data)]
        elif frame.opcode is Opcode.CONT and self._fragment_opcode is not None:
            self._fragments.append(bytes(frame.data))
        else:
            return True  # ping, pong, close: the protocol answers them itself
        if not frame.fin:
            return True
        payload = b"".join(self._fragments)
        opcode, self._fragment_opcode, self._fragments = self._fragment_opcode, None, []
        if opcode is not Opcode.TEXT:
            self._messages.append(payload)
            return True
        try:
            self._messages.append(payload.decode("utf-8"))
        except UnicodeDecodeError as error:
            # The protocol leaves this check to its user (websockets' own connections fail it so too).
            self._protocol.fail(CloseCode.INVALID_DATA, f"{error.reason} at position {error.start}")
            return False
        return True

    def _raise_if_violated(self) -> None:
        sent, received = self._protocol.close_sent, self._protocol.close_rcvd
        if sent is not None and received is None and sent.code in _VIOLATIONS:
            raise WebSocketViolation(
                _VIOLATIONS[CloseCode(sent.code)], sent.reason or "WebSocket protocol violation"
            )

    async def send_text(self, messages: list[str]) -> None:
        if self._protocol.state is not State.OPEN:
            raise ConnectionResetError("the WebSocket is not open")
        for message in messages:
            self._protocol.send_text(message.encode("utf-8"))
        await self._flush()

    async def close(self, timeout_s: float, *, code: CloseCode | None = None) -> None:
        """Close handshake (bounded by ``timeout_s``; our close frame carries ``code``, or none), then
        the connection. Never raises."""
        try:
            async with asyncio.timeout(timeout_s):
                if self._protocol.state is State.OPEN:
                    self._protocol.send_close(code)
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
            self._protocol.receive_eof()  # the connection is gone (close_code says how it ended)


class _FrameBoundary:
    """Where the protocol's frame parser stands, followed from the headers of the bytes it is given
    (RFC 6455 §5.2: a frame is its header, then as many payload bytes as the header says): between two
    frames, inside a header (``_header`` holds its first bytes) or inside a payload
    (``_payload_left_bytes`` still to come). Valid while the protocol is open: it then reads exactly so."""

    __slots__ = ("_header", "_payload_left_bytes")

    def __init__(self) -> None:
        self._header = b""
        self._payload_left_bytes = 0

    @property
    def at_boundary(self) -> bool:
        return not self._header and not self._payload_left_bytes

    def advance(self, data: bytes) -> None:
        skipped = min(self._payload_left_bytes, len(data))
        self._payload_left_bytes -= skipped
        if self._payload_left_bytes:
            return
        data = self._header + data[skipped:]
        position = 0
        while position < len(data):
            header_bytes = _header_bytes(data, position)
            if header_bytes is None or position + header_bytes > len(data):
                self._header = data[position:]
                return
            end = position + header_bytes + _payload_bytes(data, position)
            if end > len(data):
                self._header, self._payload_left_bytes = b"", end - len(data)
                return
            position = end
        self._header = b""


def _header_bytes(data: bytes, position: int) -> int | None:
    """The size of the frame header at ``position``; None while its second byte has not come."""
    if len(data) - position < 2:
        return None
    second = data[position + 1]
    length_bytes = {126: 2, 127: 8}.get(second & 0x7F, 0)
    mask_bytes = 4 if second & 0x80 else 0
    return 2 + length_bytes + mask_bytes


def _payload_bytes(data: bytes, position: int) -> int:
    """The payload length the (complete) frame header at ``position`` announces."""
    length = data[position + 1] & 0x7F
    if length == 126:
        return int.from_bytes(data[position + 2 : position + 4], "big")
    if length == 127:
        return int.from_bytes(data[position + 2 : position + 10], "big")
    return length
