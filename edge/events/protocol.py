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
from typing import Any, Generic, TypeVar

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

T = TypeVar("T")


class Inbox(Generic[T]):
    """A FIFO for one connection's received messages: ``put_nowait`` from protocol callbacks, ``get``
    awaited by the app. Unbounded like the queue it replaces (uvicorn pauses reading while a message
    waits). ``get`` is safe to cancel: the message stays for the next call."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[None]] = []

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        self._wake_one()

    async def get(self) -> T:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                # Cancelled, perhaps just after being woken: pass the wake-up on to another getter.
                self._waiters.remove(waiter)
                if self._items:
                    self._wake_one()
                raise
            self._waiters.remove(waiter)
        item = self._items.pop(0)
        if self._items:
            self._wake_one()
        return item

    def _wake_one(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
                return

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


class WritableFlag:
    """Write flow control: set while the transport takes more data. ``wait`` returns at once while set,
    else when :meth:`set` is next called."""

    __slots__ = ("_is_set", "_waiters")

    def __init__(self) -> None:
        self._is_set = True
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        self._is_set = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._is_set = False

    async def wait(self) -> bool:
        if self._is_set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:
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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.scheme == "wss":
            self.transport = PiecewiseTlsWrites(self.transport)  # type: ignore[assignment]

    def start_keepalive(self) -> None:
        # uvicorn calls this once, right after answering the handshake with 101: the one moment to let the
        # handshake go without a wrapper on every send. The parser of ``websockets`` keeps the request as
        # a local for the connection's life, so its headers (the bearer token among them) are emptied
        # rather than only let go of.
        self.request.headers.clear()
        del self.request, self.response
        super().start_keepalive()
