"""A scripted server for :class:`WebSocketPipe`, bytes in and bytes out, without sockets or an event loop.

:class:`ScriptedPipe` stands in for the TLS pipe (a seam we own): the opening handshake is answered by
the ``websockets`` package's own ``ServerProtocol``, and what the server "sends" after it is a byte
stream cut into chunks at given offsets (the response comes in a chunk of its own, or glued to the
first); a read past the script raises ``ReadInterrupted`` (as a read woken with nothing ready does) or
returns ``None`` (end of stream) when the script says so. The pipe
never waits, so :func:`run` drives a coroutine to its end in one step. :func:`observe` records
everything the client shows of a script: messages, how receiving ended, the close frames, and the frames
the client wrote back (unmasked).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from websockets.frames import Frame
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.streams import StreamReader
from websockets.typing import Subprotocol

from connector.xmpp.tls_pipe import ReadInterrupted
from connector.xmpp.websocket_pipe import WebSocketPipe, WebSocketViolation

T = TypeVar("T")
XMPP = Subprotocol("xmpp")
URI = "wss://localhost/xmpp-websocket"


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    length_bits: int | None = None,
) -> bytes:
    """One frame as a server could write it: any opcode, reserved bits, mask, and the payload length in
    7, 16 or 64 bits (the shortest form unless ``length_bits`` says otherwise)."""
    size = len(payload)
    bits = length_bits or (7 if size < 126 else 16 if size < 1 << 16 else 64)
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if mask else 0
    if bits == 7:
        head = bytes([first, mask_bit | size])
    elif bits == 16:
        head = bytes([first, mask_bit | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([first, mask_bit | 127]) + size.to_bytes(8, "big")
    if mask:
        head += mask
        payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return head + payload


def text(message: str, **options: Any) -> bytes:
    return frame(0x1, message.encode(), **options)


class ScriptedPipe:
    """The server's side: answers the opening handshake, then hands out ``stream`` cut at ``cuts``."""

    def __init__(
        self,
        stream: bytes,
        *,
        cuts: Sequence[int] = (),
        eof: bool = False,
        subprotocols: Sequence[Subprotocol] | None = (XMPP,),
        response_apart: bool = False,
    ) -> None:
        self._stream = stream
        self._cuts = cuts
        self._eof = eof
        self._response_apart = response_apart
        self._server = ServerProtocol(subprotocols=subprotocols)
        self._chunks: deque[bytes] = deque()
        self.request_headers: dict[str, str] = {}
        self.written: list[bytes] = []  # after the opening handshake
        self.closed = False
        self._answered = False

    async def read(self) -> bytes | None:
        if self._chunks:
            return self._chunks.popleft()
        if self._eof:
            return None
        raise ReadInterrupted

    def input_waiter(self) -> asyncio.Future[None] | None:
        return None  # a read never waits here: it returns a chunk, the end, or raises ReadInterrupted

    async def write(self, data: bytes) -> None:
        if self._answered:
            self.written.append(data)
            return
        self._server.receive_data(data)
        (request,) = self._server.events_received()
        assert isinstance(request, Request)
        self.request_headers = dict(request.headers.raw_items())
        self._server.send_response(self._server.accept(request))
        response = b"".join(self._server.data_to_send())
        chunks = cut(self._stream, self._cuts)
        if self._response_apart or not chunks:
            chunks.insert(0, response)
        else:
            chunks[0] = response + chunks[0]
        self._chunks.extend(chunks)
        self._answered = True

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def cut(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` in chunks, cut at the given offsets (taken modulo its length + 1, duplicates ignored)."""
    points = sorted({point % (len(data) + 1) for point in cuts} | {0, len(data)})
    return [data[start:end] for start, end in itertools.pairwise(points) if end > start]


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits (its pipe is scripted) to its end."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise AssertionError("the coroutine waited: the scripted pipe never makes it wait")


def client_frames(data: bytes) -> list[tuple[int, bytes, bool]]:
    """The (masked) frames the client wrote, as (opcode, unmasked payload, fin)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames: list[tuple[int, bytes, bool]] = []
    while not _step(reader.at_eof()):
        parsed: Frame = _step(Frame.parse(reader.read_exact, mask=True))
        frames.append((int(parsed.opcode), bytes(parsed.data), parsed.fin))
    return frames


def _step(generator: Any) -> Any:
    try:
        next(generator)
    except StopIteration as done:
        return done.value
    raise AssertionError("incomplete frame written")


@dataclass(frozen=True)
class Outcome:
    """What the client showed of one script."""

    messages: list[str | bytes]
    ended: tuple[str, ...]  # ("waiting",), ("closed",) or ("violation", condition, text)
    state: State
    close_sent: tuple[int, str] | None
    close_received: tuple[int, str] | None
    written: list[tuple[int, bytes, bool]]
    tcp_closed: bool
    close_code: int | None


def observe(
    stream: bytes,
    *,
    cuts: Sequence[int] = (),
    eof: bool = False,
    response_apart: bool = True,
    fast_path: bool = True,
    max_message_bytes: int = 300,
) -> Outcome:
    """Open a :class:`WebSocketPipe` over ``stream`` cut at ``cuts`` and receive until it ends or waits;
    the handshake response comes in a chunk of its own when ``response_apart``, else with the first."""
    pipe = ScriptedPipe(stream, cuts=cuts, eof=eof, response_apart=response_apart)
    websocket = run(
        WebSocketPipe.handshake(
            pipe, URI, subprotocol=XMPP, max_message_bytes=max_message_bytes, fast_path=fast_path
        )
    )
    messages: list[str | bytes] = []
    while True:
        try:
            message = run(websocket.receive())
        except ReadInterrupted:
            ended: tuple[str, ...] = ("waiting",)
            break
        except WebSocketViolation as violation:
            ended = ("violation", violation.condition, violation.text)
            break
        if message is None:
            ended = ("closed",)
            break
        messages.append(message)
    protocol = websocket._protocol
    sent, received = protocol.close_sent, protocol.close_rcvd
    return Outcome(
        messages=messages,
        ended=ended,
        state=protocol.state,
        close_sent=None if sent is None else (sent.code, sent.reason),
        close_received=None if received is None else (received.code, received.reason),
        written=client_frames(b"".join(piece for piece in pipe.written if piece)),
        tcp_closed=pipe.closed,
        close_code=websocket.close_code,
    )
