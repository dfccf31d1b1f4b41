"""One HTTP/1.1 keep-alive connection: requests and responses in turn over a network stream, framed by h11.

:class:`Http11Connection` sends a request and reads its response head and body; whether the connection
may carry another request is decided when the response has been read (:meth:`~Http11Connection.finish`):
only when both messages ended cleanly and neither side asked to close (``Connection: close``, an
HTTP/1.0 answer), as h11 tracks. Timeouts are the stream's: armed only while a read or a write waits.

Errors are httpx's, raised ``from`` the stream's or h11's own (so the cause chain still reaches an
:class:`ssl.SSLError` or :class:`ConnectionResetError`): ``ReadError`` / ``ReadTimeout``, ``WriteError`` /
``WriteTimeout``, ``RemoteProtocolError`` for an answer h11 cannot read or a server that closed before
answering, ``LocalProtocolError`` for a request that cannot be written (its message never quotes a
header: an invalid value may be a credential).
"""

# The stream's interface takes ``timeout`` parameters (httpcore's network-stream interface).
# ruff: noqa: ASYNC109

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

import h11
import httpcore
import httpx

# What one read asks of the stream (httpcore's figure).
READ_BYTES = 64 * 1024
# The longest response head (status line and headers) accepted: httpcore's figure, h11's default is 16 KiB.
MAX_HEAD_BYTES = 100 * 1024

_ResponseHead = h11.Response | h11.InformationalResponse


class NetworkStream(Protocol):
    """What a connection needs of its stream (``connector.finesse.http_backend``'s streams)."""

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Up to ``max_bytes``; ``b""`` at the end. Raises ``httpcore.ReadError`` / ``ReadTimeout``."""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """All of ``buffer``. Raises ``httpcore.WriteError`` / ``WriteTimeout``."""

    def close(self) -> None:
        """Close now, without waiting."""

    @property
    def has_arrivals(self) -> bool:
        """Anything received and not read yet, or the end of the connection."""


class Http11Connection:
    """An HTTP/1.1 connection to ``origin`` over ``stream``, one exchange at a time (the pool's
    :class:`~connector.finesse.http_pool.PooledConnection`)."""

    __slots__ = ("_closed", "_h11", "origin", "stream")

    def __init__(self, *, origin: Hashable, stream: NetworkStream) -> None:
        self.origin = origin
        self.stream = stream
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._closed = False

    def __repr__(self) -> str:
        state = (
            "closed" if self._closed else f"{self._h11.our_state.__name__}/{self._h11.their_state.__name__}"
        )
        return f"Http11Connection({self.origin!r}, {state})"

    @property
    def is_stale(self) -> bool:
        """Anything arrived while idle: the server closed the connection (or broke it)."""
        return self.stream.has_arrivals

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.stream.close()

    # --- one exchange ----------------------------------------------------------------------------------

    async def send_request(self, request: httpx.Request, *, write_timeout_s: float | None) -> None:
        """Write ``request``, head and body (a body known in advance goes out with the head in one write)."""
        state = self._h11
        try:
            head = state.send(
                h11.Request(method=request.method, target=request.url.raw_path, headers=request.headers.raw)
            )
        except h11.LocalProtocolError:
            raise httpx.LocalProtocolError(
                "the request's method, target or headers are not valid HTTP/1.1"
            ) from None
        assert head is not None  # h11 returns bytes for every event but ConnectionClosed
        body = _known_body(request)
        if body is not None:
            if body:
                head += self._encode(h11.Data(data=body))
            await self._write(head + self._encode(h11.EndOfMessage()), write_timeout_s)
            return
        await self._write(head, write_timeout_s)
        async for chunk in request.stream:  # type: ignore[union-attr]  # an AsyncByteStream, as httpx sends
            if chunk:
                await self._write(self._encode(h11.Data(data=chunk)), write_timeout_s)
        await self._write(self._encode(h11.EndOfMessage()), write_timeout_s)

    async def receive_response_head(self, *, read_timeout_s: float | None) -> _ResponseHead:
        """The response's status line and headers (informational answers skipped, but a ``101``)."""
        while True:
            event = await self._next_event(read_timeout_s)
            if isinstance(event, h11.Response):
                return event
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    return event
                continue
            raise httpx.RemoteProtocolError(f"expected a response, received {type(event).__name__}")

    async def receive_body_chunk(self, *, read_timeout_s: float | None) -> bytes | None:
        """The next piece of the response body as it arrives; ``None`` at its end."""
        event = await self._next_event(read_timeout_s)
        if type(event) is h11.Data:
            return bytes(event.data)
        if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed) or event is h11.PAUSED:
            return None
        raise httpx.RemoteProtocolError(f"expected the response body, received {type(event).__name__}")

    def finish(self) -> bool:
        """After the response's end: ``True`` when the connection can carry the next request (both
        messages complete, keep-alive on both sides, nothing left over), then ready for it."""
        state = self._h11
        if self._closed or state.our_state is not h11.DONE or state.their_state is not h11.DONE:
            return False
        leftover, _ = state.trailing_data
        if leftover:
            return False  # bytes after the response that belong to no request
        state.start_next_cycle()
        return True

    # --- the stream and h11 ------------------------------------------------------------------------------

    def _encode(self, event: h11.Data | h11.EndOfMessage) -> bytes:
        try:
            data = self._h11.send(event)
        except h11.LocalProtocolError as exc:
            # A body longer or shorter than its Content-Length (no header in these messages).
            raise httpx.LocalProtocolError(str(exc)) from exc
        return data or b""

    async def _write(self, data: bytes, timeout_s: float | None) -> None:
        try:
            await self.stream.write(data, timeout_s)
        except httpcore.WriteTimeout as exc:
            raise httpx.WriteTimeout(str(exc)) from exc
        except httpcore.WriteError as exc:
            raise httpx.WriteError(str(exc)) from exc

    async def _next_event(self, read_timeout_s: float | None) -> h11.Event | type[h11.PAUSED]:
        state = self._h11
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]  # NEED_DATA is excluded above
            try:
                data = await self.stream.read(READ_BYTES, read_timeout_s)
            except httpcore.ReadTimeout as exc:
                raise httpx.ReadTimeout(str(exc)) from exc
            except httpcore.ReadError as exc:
                raise httpx.ReadError(str(exc)) from exc
            if not data:
                if self._closed:
                    raise httpx.ReadError("the connection was closed by the client")
                if state.their_state is h11.SEND_RESPONSE:
                    # h11 would call this an unexpected ConnectionClosed event (httpcore's wording).
                    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            state.receive_data(data)


def _known_body(request: httpx.Request) -> bytes | None:
    """The request body when httpx holds it whole (``content=`` bytes, or none), else ``None`` (streamed)."""
    if isinstance(request.stream, httpx.ByteStream):
        try:
            return request.content
        except httpx.RequestNotRead:
            return None
    return None
