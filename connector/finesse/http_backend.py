"""An httpcore network backend on asyncio's own transports: the connections of the connector's HTTP
transport (:mod:`connector.finesse.http_transport`).

httpcore (1.0.9) runs on asyncio through anyio: every read and write enters an ``anyio.fail_after`` cancel
scope, TLS is anyio's ``TLSStream`` (a memory-BIO loop with several Python layers per record), and the
pool's idle check goes through anyio's typed attributes. In a sign-in storm httpx and httpcore were ~30 %
of the connector's CPU and ~50 % of the bench's (py-spy), much of it that backend.
:class:`AsyncioNetworkBackend` does the same work with one small buffered protocol per connection:

* Received bytes wait in the protocol for the one reader (httpcore serialises an HTTP/1.1 connection's
  reads and writes); reading pauses above :data:`MAX_BUFFERED_BYTES`, so a server faster than its reader
  cannot grow memory without limit. A read that finds data buffered returns without waiting. The socket
  is read into one buffer per backend (:data:`RECEIVE_BUFFER_BYTES`), not a fresh 256 KiB per read.
* A timeout is one timer on the waiting future, armed only when a read (or a write's drain) has to wait.
* TLS is an :class:`ssl.SSLObject` over two :class:`ssl.MemoryBIO` on the plain TCP transport (the
  default, ``tls="memory_bio"``), or the event loop's own TLS transport (``tls="loop"``: ``loop.start_tls``,
  C in uvloop, ``sslproto`` in asyncio). Their CPU per request is the same within noise on both loops,
  but asyncio's TLS allocates a zero-filled 256 KiB read buffer per connection (~330 KiB resident per
  pooled connection against ~64 KiB: 50 MiB more for the bench's 200), hence the default.
  ``benchmarks/http_client.py`` measures both.
* The pool's idle check (``is_readable``) is answered from the protocol's state: an idle connection on
  which anything arrived (data, EOF, an error) is one the server has closed or broken. The loop watches the
  socket anyway, so no system call is needed.

Measured (``benchmarks/http_client.py``, TLS keep-alive GET/PUT against uvicorn): 45-50 % less client
CPU per request than httpcore's anyio backend, 20-35 % less than anyio with a polled idle check.

Errors are httpcore's, raised ``from`` the original as httpcore's own backends do: ``ConnectError`` /
``ConnectTimeout`` while connecting or during the TLS handshake (a failed certificate check is a
``ConnectError`` caused by :class:`ssl.SSLCertVerificationError`), ``ReadError`` / ``ReadTimeout``,
``WriteError`` / ``WriteTimeout``. A read at the end of the stream returns ``b""``. A backend (and so a
client) serves one event loop at a time, as httpx's clients do.

:func:`httpcore_http_transport` is the connector's previous transport, httpx's own with httpcore's pool
(:class:`LinearAssignmentPool`) on this backend: the baseline ``benchmarks/http_client.py`` measures
the connector's own transport against.
"""

# The signatures (``timeout`` parameters included) are httpcore's network-backend interface.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any, Literal, cast

import httpcore
import httpx

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
TlsLayer = Literal["memory_bio", "loop"]

# Reading pauses while more than this many received bytes (ciphertext, with TLS) wait for the reader.
# httpcore reads 64 KiB at a time; a transport delivers at most RECEIVE_BUFFER_BYTES in one go, so the
# buffer peaks below 128 KiB per connection however fast the server sends.
MAX_BUFFERED_BYTES = 64 * 1024
# The socket is read into one buffer per backend, shared by its connections (a read is copied out at once,
# and the loop does one read at a time). asyncio's default would allocate 256 KiB per read and shrink it:
# ~9 µs a read instead of ~1 µs.
RECEIVE_BUFFER_BYTES = 64 * 1024


class _Wire(asyncio.BufferedProtocol):
    """The TCP connection's protocol: keeps what arrives for the one reader and wakes it, pauses reading
    above the bound, tracks write flow control and how the connection ended. The transport reads into
    ``receive_buffer``, which may be shared with other connections of the same loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, receive_buffer: memoryview) -> None:
        self.loop = loop
        self._receive_buffer = receive_buffer
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered_bytes = 0
        # Set once TLS runs over this connection on memory BIOs: ciphertext goes there instead.
        self.incoming: ssl.MemoryBIO | None = None
        self.eof = False  # nothing more will arrive (EOF, or the connection was lost)
        self.lost = False
        self.error: Exception | None = None  # why the connection was lost, when it was not a clean close
        self.reading_paused = False
        self.writing_paused = False
        self._reader: asyncio.Future[bool] | None = None
        self._writer: asyncio.Future[bool] | None = None

    # --- asyncio.BufferedProtocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's TCP transport has the Transport methods without the base class.
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._receive_buffer

    def buffer_updated(self, nbytes: int) -> None:
        data = self._receive_buffer[:nbytes]
        incoming = self.incoming
        if incoming is not None:
            incoming.write(data)
            waiting = incoming.pending
        else:
            self.chunks.append(bytes(data))
            self.buffered_bytes += nbytes
            waiting = self.buffered_bytes
        if waiting > MAX_BUFFERED_BYTES and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self._end()
        self._wake_reader()
        return False  # the transport closes itself: an HTTP client has nothing to send after the server's EOF

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.error = exc
        self._end()
        self._wake_reader()
        self.writing_paused = False
        self._wake_writer()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake_writer()

    # --- for the streams -----------------------------------------------------------------------------

    @property
    def has_arrivals(self) -> bool:
        """Anything received and not read yet, or the end of the connection."""
        if self.eof:
            return True
        if self.incoming is not None:
            return self.incoming.pending > 0
        return self.buffered_bytes > 0

    def take(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` of what is buffered (one received chunk or part of it; never empty)."""
        chunk = self.chunks[0]
        if len(chunk) <= max_bytes:
            self.chunks.popleft()
        else:
            self.chunks[0] = chunk[max_bytes:]
            chunk = chunk[:max_bytes]
        self.buffered_bytes -= len(chunk)
        if self.reading_paused and self.buffered_bytes <= MAX_BUFFERED_BYTES:
            self.resume_reading()
        return chunk

    def resume_reading(self) -> None:
        self.reading_paused = False
        if self.transport is not None and not self.lost:
            self.transport.resume_reading()

    async def wait_readable(self, deadline: float | None) -> bool:
        """Wait for something to arrive; ``False`` when ``deadline`` (loop time) passed first."""
        waiter = self.loop.create_future()
        self._reader = waiter
        return await self._wait(waiter, deadline)

    async def wait_drained(self, deadline: float | None) -> bool:
        """Wait until the transport takes writes again (or the connection is lost); ``False`` at
        ``deadline``."""
        waiter = self.loop.create_future()
        self._writer = waiter
        return await self._wait(waiter, deadline)

    async def _wait(self, waiter: asyncio.Future[bool], deadline: float | None) -> bool:
        if deadline is None:
            return await waiter
        if deadline <= self.loop.time():
            return False
        # One timer on the future instead of a cancel scope around the await: cheap, and armed only when
        # a read or write really has to wait. A timer that fires after the wake-up finds the future done.
        timer = self.loop.call_at(deadline, _time_out, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()

    def _end(self) -> None:
        if not self.eof:
            self.eof = True
            if self.incoming is not None:
                self.incoming.write_eof()

    def _wake_reader(self) -> None:
        waiter, self._reader = self._reader, None
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def _wake_writer(self) -> None:
        waiter, self._writer = self._writer, None
        if waiter is not None and not waiter.done():
            waiter.set_result(True)


def _time_out(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """A connection of :class:`AsyncioNetworkBackend`, plain or TLS: httpcore's network stream, plus what
    a pool of our own asks of it without awaiting (:meth:`close`, :attr:`has_arrivals`). The subclasses
    share the wire, writes and their flow control, addresses, the idle check."""

    def __init__(self, wire: _Wire, transport: asyncio.Transport) -> None:
        self._wire = wire
        self._transport = transport

    def _transmit(self, data: bytes) -> None:
        """Hand ``data`` to the transport (encrypted first, with TLS). Raises ``ssl.SSLError``."""
        raise NotImplementedError

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        wire = self._wire
        if wire.lost or self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed") from wire.error
        try:
            self._transmit(buffer)
        except ssl.SSLError as exc:
            raise httpcore.WriteError(str(exc) or "TLS failed") from exc
        await self._drain(timeout)

    async def _drain(self, timeout: float | None) -> None:
        wire = self._wire
        if wire.writing_paused:
            deadline = None if timeout is None else wire.loop.time() + timeout
            while wire.writing_paused:
                if not await wire.wait_drained(deadline):
                    raise httpcore.WriteTimeout("the write operation timed out")
        if wire.lost and wire.error is not None:
            raise httpcore.WriteError(str(wire.error) or "the connection was lost") from wire.error

    def close(self) -> None:
        """Close the connection now, without waiting (what :meth:`aclose` does; for a pool closing
        connections from synchronous code)."""
        self._transport.close()

    async def aclose(self) -> None:
        self.close()

    @property
    def has_arrivals(self) -> bool:
        """Anything received and not read yet, or the end of the connection (the idle check)."""
        return self._wire.has_arrivals

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> AsyncioStream:
        raise NotImplementedError("TLS over TLS (an HTTPS proxy) is not supported by this backend")

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # Only asked of an idle connection: anything that arrived there means the server closed it.
            return self._wire.has_arrivals
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class _PlainStream(AsyncioStream):
    """Plaintext on the wire: a TCP connection, or the event loop's TLS transport (``tls="loop"``)."""

    def __init__(self, wire: _Wire, transport: asyncio.Transport, *, tls_layer: TlsLayer) -> None:
        super().__init__(wire, transport)
        self._tls_layer = tls_layer

    def _transmit(self, data: bytes) -> None:
        self._transport.write(data)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        wire = self._wire
        deadline: float | None = None
        while True:
            if wire.buffered_bytes:
                return wire.take(max_bytes)
            if wire.eof:
                if wire.error is not None:
                    raise httpcore.ReadError(str(wire.error) or "the connection was lost") from wire.error
                return b""
            if deadline is None and timeout is not None:
                deadline = wire.loop.time() + timeout
            if not await wire.wait_readable(deadline):
                raise httpcore.ReadTimeout("the read operation timed out")

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> AsyncioStream:
        try:
            async with asyncio.timeout(timeout):
                if self._tls_layer == "loop":
                    return await self._start_loop_tls(ssl_context, server_hostname)
                return await _TlsStream.over(self._wire, self._transport, ssl_context, server_hostname)
        except TimeoutError as exc:
            self._transport.abort()
            raise httpcore.ConnectTimeout("the TLS handshake timed out") from exc
        except OSError as exc:  # ssl.SSLError (a failed certificate check, for one) is an OSError
            self._transport.abort()
            raise httpcore.ConnectError(str(exc) or "the TLS handshake failed") from exc
        except BaseException:
            self._transport.abort()
            raise

    async def _start_loop_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None
    ) -> _LoopTlsStream:
        wire = self._wire
        if wire.chunks:
            raise httpcore.ConnectError("the server sent data before the TLS handshake")
        transport = await wire.loop.start_tls(
            self._transport, wire, ssl_context, server_hostname=server_hostname
        )
        if transport is None:  # only for a transport already closing
            raise httpcore.ConnectError("the connection closed before the TLS handshake")
        wire.transport = transport
        return _LoopTlsStream(wire, transport, tls_layer="loop")


class _LoopTlsStream(_PlainStream):
    """The event loop's TLS transport: plaintext reaches the wire as on a plain connection."""

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> AsyncioStream:
        raise NotImplementedError("TLS over TLS (an HTTPS proxy) is not supported by this backend")

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        return super().get_extra_info(info)


class _TlsStream(AsyncioStream):
    """TLS on memory BIOs over the plain TCP transport: ciphertext waits in the incoming BIO (only what
    has arrived), records are decrypted as the reader asks for them."""

    def __init__(
        self, wire: _Wire, transport: asyncio.Transport, tls: ssl.SSLObject, outgoing: ssl.MemoryBIO
    ) -> None:
        super().__init__(wire, transport)
        self._tls = tls
        self._outgoing = outgoing

    @classmethod
    async def over(
        cls,
        wire: _Wire,
        transport: asyncio.Transport,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None,
    ) -> _TlsStream:
        """Run the handshake over ``wire`` (certificate and host name checked as ``ssl_context`` says).
        Raises ``ssl.SSLError`` or ``OSError``; the caller bounds the time."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        # Anything received before TLS started is the first ciphertext (normally nothing).
        for chunk in wire.chunks:
            incoming.write(chunk)
        wire.chunks.clear()
        wire.buffered_bytes = 0
        if wire.eof:
            incoming.write_eof()
        wire.incoming = incoming
        tls = ssl_context.wrap_bio(incoming, outgoing, server_side=False, server_hostname=server_hostname)
        stream = cls(wire, transport, tls, outgoing)
        while True:
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                stream._send_ciphertext()
                if wire.eof:
                    raise ConnectionResetError("the connection closed during the TLS handshake") from None
                await wire.wait_readable(None)
                continue
            stream._send_ciphertext()
            return stream

    def _transmit(self, data: bytes) -> None:
        # The outgoing BIO grows as needed, so the whole buffer is taken at once: one record per 16 KiB.
        self._tls.write(data)
        self._send_ciphertext()

    def _send_ciphertext(self) -> None:
        if self._outgoing.pending and not self._transport.is_closing():
            self._transport.write(self._outgoing.read())

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        wire = self._wire
        deadline: float | None = None
        while True:
            try:
                data = self._tls.read(max_bytes)
            except ssl.SSLWantReadError:
                pass  # a record is incomplete: wait for more ciphertext below
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                # close_notify, or the connection ended without one (as httpcore's anyio backend, which
                # does not insist on close_notify: HTTP/1.1 knows where its messages end).
                if wire.error is not None:
                    raise httpcore.ReadError(str(wire.error) or "the connection was lost") from wire.error
                return b""
            except ssl.SSLError as exc:
                raise httpcore.ReadError(str(exc) or "TLS failed") from exc
            else:
                self._after_read()
                return data
            self._after_read()
            if deadline is None and timeout is not None:
                deadline = wire.loop.time() + timeout
            if not await wire.wait_readable(deadline):
                raise httpcore.ReadTimeout("the read operation timed out")

    def _after_read(self) -> None:
        # TLS 1.3 post-handshake messages (a key update) may need an answer.
        self._send_ciphertext()
        wire = self._wire
        if wire.reading_paused:
            incoming = wire.incoming
            if incoming is not None and incoming.pending <= MAX_BUFFERED_BYTES:
                wire.resume_reading()

    def close(self) -> None:
        if not self._transport.is_closing():
            with contextlib.suppress(ssl.SSLError, OSError):
                # close_notify, best effort and without waiting for the server's: the exchange is over.
                self._tls.unwrap()
            self._send_ciphertext()
        self._transport.close()

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._tls
        return super().get_extra_info(info)


class AsyncioNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on the running asyncio event loop (asyncio's own or uvloop), without
    anyio; see the module docstring. ``tls`` picks the TLS layer: ``"memory_bio"`` (default) or
    ``"loop"``. Unix sockets and TLS over TLS (HTTPS proxies) raise ``NotImplementedError``."""

    def __init__(self, *, tls: TlsLayer = "memory_bio") -> None:
        if tls not in ("memory_bio", "loop"):
            raise ValueError(f"tls must be 'memory_bio' or 'loop', not {tls!r}")
        self._tls: TlsLayer = tls
        self._receive_buffer = memoryview(bytearray(RECEIVE_BUFFER_BYTES))

    def __repr__(self) -> str:
        return f"AsyncioNetworkBackend(tls={self._tls!r})"

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self.connect(
            host, port, timeout_s=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect(
        self,
        host: str,
        port: int,
        *,
        timeout_s: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> AsyncioStream:
        """A TCP connection to ``host``:``port`` (what :meth:`connect_tcp` returns), typed as this
        backend's stream. Raises ``httpcore.ConnectError`` / ``ConnectTimeout`` after ``timeout_s``."""
        loop = asyncio.get_running_loop()
        local_addr = (local_address, 0) if local_address is not None else None
        try:
            async with asyncio.timeout(timeout_s):
                transport, wire = await loop.create_connection(
                    lambda: _Wire(loop, self._receive_buffer), host, port, local_addr=local_addr
                )
        except TimeoutError as exc:  # before OSError: TimeoutError is one
            raise httpcore.ConnectTimeout("the connection attempt timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or "the connection failed") from exc
        stream = _PlainStream(wire, transport, tls_layer=self._tls)
        if socket_options:
            # asyncio already sets TCP_NODELAY; these are the caller's extra options.
            sock = transport.get_extra_info("socket")
            try:
                for option in socket_options:
                    sock.setsockopt(*option)
            except OSError as exc:
                transport.abort()
                raise httpcore.ConnectError(str(exc)) from exc
        return stream

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise NotImplementedError("Unix sockets are not supported by this backend")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class LinearAssignmentPool(httpcore.AsyncConnectionPool):
    """httpcore's connection pool, its assignment step in linear time; every decision the same.

    httpcore (1.0.9) runs ``_assign_requests_to_connections`` when a request arrives and when one ends. For
    each idle connection it counts the pool's connections by building a list of them (quadratic in the
    pool size), and for each queued request it lists every available and every idle connection (queued
    requests x pool size), where only the first of each is used. The connector's 16 connections serve up
    to twice as many requests in a sign-in storm: py-spy put the step at ~7 % of the connector's CPU.
    Here the count is kept as connections are removed and the first match is taken; the order of the
    checks and the choices are httpcore's (tests/http_backend/test_pool_assignment.py holds the two to
    the same outcome on random pool states, so a changed httpcore shows there)."""

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        connections = self._connections
        count = len(connections)
        for connection in list(connections):
            if connection.is_closed():
                connections.remove(connection)
                count -= 1
            elif connection.has_expired() or (
                connection.is_idle() and count > self._max_keepalive_connections
            ):
                connections.remove(connection)
                count -= 1
                closing.append(connection)
        for pool_request in self._requests:
            if not pool_request.is_queued():
                continue
            origin = pool_request.request.url.origin
            chosen = next((c for c in connections if c.can_handle_request(origin) and c.is_available()), None)
            if chosen is None and len(connections) >= self._max_connections:
                idle = next((c for c in connections if c.is_idle()), None)
                if idle is None:
                    continue  # stays queued until a connection frees up
                connections.remove(idle)
                closing.append(idle)
            if chosen is None:
                chosen = self.create_connection(origin)
                connections.append(chosen)
            pool_request.assign_to_connection(chosen)
        return closing


def httpcore_http_transport(
    *,
    ssl_context: ssl.SSLContext,
    max_connections: int,
    max_keepalive_connections: int,
    keepalive_expiry_s: float,
    tls: TlsLayer = "memory_bio",
) -> httpx.AsyncHTTPTransport:
    """httpx's own transport with httpcore's pool (:class:`LinearAssignmentPool`) on
    :class:`AsyncioNetworkBackend`: what the connector ran before its own transport
    (:func:`connector.finesse.http_transport.asyncio_http_transport`), kept as the baseline that
    ``benchmarks/http_client.py`` measures it against.

    Certificates are verified as ``ssl_context`` says. Idle connections are closed after
    ``keepalive_expiry_s``."""
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, trust_env=False)
    # httpx (0.28) has no option for httpcore's network backend, so its pool is replaced by one on ours,
    # assigning in linear time.
    transport._pool = LinearAssignmentPool(
        ssl_context=ssl_context,
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive_connections,
        keepalive_expiry=keepalive_expiry_s,
        network_backend=AsyncioNetworkBackend(tls=tls),
    )
    return transport
