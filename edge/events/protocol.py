"""The WebSocket protocol the public listener runs: uvicorn's ``websockets-sansio`` protocol (its default,
and the cheapest in CPU per message of uvicorn's three), trimmed for sockets that stay open for hours.

An event socket is mostly idle, so what it holds while idle is memory per signed-in agent. Per socket,
uvicorn's protocol keeps the handshake request and response for the socket's whole life (~4.5 KiB; the
request's headers hold the bearer token), an ``asyncio.Queue`` for what the client sends (three deques
and an ``asyncio.Event``: ~3.4 KiB, for a client that sends nothing) and an ``asyncio.Event`` for write
flow control (~0.8 KiB). :class:`EventSocketProtocol` drops the handshake once it is answered and
swaps the two primitives for :class:`Inbox` and :class:`WritableFlag`, which hold nothing while empty.
Behaviour is uvicorn's own; ``benchmarks/edge_socket_memory.py`` measures the difference.

The swap relies on which methods uvicorn 0.54's protocol calls on the two (``put_nowait``, ``get``,
``empty``; ``set``, ``clear``, ``wait``); the event socket tests exercise every path over real sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request

from edge.events.channel import EVENT_CHANNEL_EXTENSION, MessageListener, WriteResult

T = TypeVar("T")


class Inbox(Generic[T]):
    """A FIFO for one connection's received messages: ``put_nowait`` from protocol callbacks, ``get``
    awaited by the app. Unbounded like the queue it replaces (uvicorn pauses reading while a message
    waits). ``get`` is safe to cancel: the message stays for the next call. With a listener
    (:meth:`listen`), messages go to it as they arrive instead. Holds no list while empty."""

    __slots__ = ("_items", "_listener", "_waiters")

    def __init__(self) -> None:
        self._items: list[T] | None = None
        self._waiters: list[asyncio.Future[None]] | None = None
        self._listener: Callable[[T], None] | None = None

    def put_nowait(self, item: T) -> None:
        if self._listener is not None:
            self._listener(item)
            return
        if self._items is None:
            self._items = [item]
        else:
            self._items.append(item)
        self._wake_one()

    def listen(self, listener: Callable[[T], None] | None) -> None:
        """Hand every message to ``listener`` from now on, those waiting first; ``None`` stops."""
        self._listener = listener
        items, self._items = self._items, None
        if listener is not None:
            for item in items or ():
                listener(item)
        else:
            self._items = items

    @property
    def listening(self) -> bool:
        return self._listener is not None

    async def get(self) -> T:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                # Cancelled, perhaps just after being woken: pass the wake-up on to another getter.
                self._forget(waiter)
                if self._items:
                    self._wake_one()
                raise
            self._forget(waiter)
        item = self._items.pop(0)
        if self._items:
            self._wake_one()
        else:
            self._items = None
        return item

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        if self._waiters is not None:
            self._waiters.remove(waiter)
            if not self._waiters:
                self._waiters = None

    def _wake_one(self) -> None:
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(None)
                return

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items is not None else 0


class WritableFlag:
    """Write flow control: set while the transport takes more data. ``wait`` returns at once while set,
    else when :meth:`set` is next called; :meth:`call_when_set` does the same for a callback. Holds no
    list while nobody waits."""

    __slots__ = ("_is_set", "_waiters")

    def __init__(self) -> None:
        self._is_set = True
        # Futures (``wait``) and callbacks (``call_when_set``), in the order they came.
        self._waiters: list[asyncio.Future[None] | Callable[[], None]] | None = None

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        self._is_set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if isinstance(waiter, asyncio.Future):
                if not waiter.done():
                    waiter.set_result(None)
            else:
                # From the loop, not from inside the transport's call that made it writable.
                asyncio.get_running_loop().call_soon(waiter)

    def clear(self) -> None:
        self._is_set = False

    def call_when_set(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, soon, from the loop: now if set, else when :meth:`set` is next called."""
        if self._is_set:
            asyncio.get_running_loop().call_soon(callback)
        elif self._waiters is None:
            self._waiters = [callback]
        else:
            self._waiters.append(callback)

    async def wait(self) -> bool:
        if self._is_set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = [waiter]
        else:
            self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


# The largest piece handed to a TLS transport at once. The loop's TLS layer writes each piece into an
# OpenSSL memory BIO and drains it before taking the next; the BIO's buffer never shrinks, so the largest
# piece written is held per socket for the socket's life (a 3 KB snapshot left ~4 KiB in every socket).
# The handshake's own flight fills the BIO to about this much anyway. Events are mostly smaller.
TLS_WRITE_PIECE_BYTES = 1024


class PiecewiseTlsWrites:
    """Wraps a TLS transport so that ``write`` hands over at most ``piece_bytes`` at a time (see
    :data:`TLS_WRITE_PIECE_BYTES`); everything else is the transport's own. Order and flow control are
    unchanged: the pieces go in order into the same write buffer."""

    __slots__ = ("_piece_bytes", "_transport")

    def __init__(self, transport: asyncio.Transport, *, piece_bytes: int = TLS_WRITE_PIECE_BYTES) -> None:
        self._transport = transport
        self._piece_bytes = piece_bytes

    def write(self, data: bytes | bytearray | memoryview) -> None:
        size = self._piece_bytes
        if len(data) <= size:
            self._transport.write(data)
            return
        view = memoryview(data)
        for start in range(0, len(view), size):
            self._transport.write(view[start : start + size])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class EventSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, holding less per open socket (see the module docstring).
    Pass the class as ``uvicorn.Config(ws=...)``."""

    # uvicorn 0.54's instance attributes, as slots: 37 attributes overflow the 30 an instance dict shares
    # its keys for, so each socket had a dict of its own (~1.6 KiB); in slots they take 8 bytes each. An
    # attribute a later uvicorn adds lands in the instance dict as before. None has a class-level
    # default a slot could hide (each is set in ``__init__``, ``connection_made`` or ``handle_connect``).
    __slots__ = (
        "app",
        "app_state",
        "asgi_version",
        "client",
        "close_sent",
        "close_timeout",
        "close_timer",
        "config",
        "conn",
        "connections",
        "curr_msg_data_type",
        "default_headers",
        "disconnected",
        "frames",
        "handshake_complete",
        "handshake_initiated",
        "initial_response",
        "last_ping_rtt",
        "logger",
        "loop",
        "pending_ping_payload",
        "ping_interval",
        "ping_sent_at",
        "ping_timeout",
        "ping_timer",
        "pong_timer",
        "queue",
        "read_paused",
        "request",
        "response",
        "root_path",
        "scheme",
        "scope",
        "server",
        "tasks",
        "transport",
        "writable",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = WritableFlag()  # type: ignore[assignment]

    # Each TLS write in pieces of at most this many bytes (see TLS_WRITE_PIECE_BYTES); ``None`` in a
    # subclass writes each message whole, for servers that hold few sockets and want fewer TLS records.
    tls_write_piece_bytes: ClassVar[int | None] = TLS_WRITE_PIECE_BYTES

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.scheme == "wss" and self.tls_write_piece_bytes is not None:
            self.transport = PiecewiseTlsWrites(  # type: ignore[assignment]
                self.transport, piece_bytes=self.tls_write_piece_bytes
            )

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if not self.handshake_complete:  # an upgrade the app will answer: offer it the channel
            self.scope["extensions"][EVENT_CHANNEL_EXTENSION] = self  # type: ignore[assignment]

    def start_keepalive(self) -> None:
        # uvicorn calls this once, right after answering the handshake with 101: the one moment to let the
        # handshake go without a wrapper on every send. The parser of ``websockets`` keeps the request as
        # a local for the connection's life, so its headers (the bearer token among them) are emptied
        # rather than only let go of.
        self.request.headers.clear()
        del self.request, self.response
        super().start_keepalive()

    # --- the event socket's channel (edge.events.channel.SocketChannel) ------------------------------

    def write_text(self, text: str) -> WriteResult:
        """What uvicorn's ``send`` of a ``websocket.send`` does once its flow-control wait is over, now:
        ``FULL`` instead of that wait, ``GONE`` where it would raise or the socket is closing."""
        if self.disconnected or self.close_sent or self.transport.is_closing():
            return WriteResult.GONE
        if not self.writable.is_set():
            return WriteResult.FULL
        try:
            self.conn.send_text(text.encode())
        except InvalidState:
            return WriteResult.GONE
        self.transport.write(b"".join(self.conn.data_to_send()))
        return WriteResult.WRITTEN

    def when_writable(self, callback: Callable[[], None]) -> None:
        # A lost connection sets the flag too (uvicorn's connection_lost): the next write says GONE.
        self.writable.call_when_set(callback)  # type: ignore[attr-defined]

    def listen(self, listener: MessageListener | None) -> None:
        self.queue.listen(listener)  # type: ignore[attr-defined]
        if listener is not None:
            self._resume_reading()

    def send_receive_event_to_app(self) -> None:
        super().send_receive_event_to_app()
        # uvicorn stops reading until the app has taken the message; a listener took it already.
        if self.queue.listening:  # type: ignore[attr-defined]
            self._resume_reading()

    def _resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
