"""TLS over a plain asyncio TCP connection with :class:`ssl.MemoryBIO`, sized for thousands of sessions.

asyncio's own TLS transport gives every connection a 256 KiB read buffer (``SSLProtocol.max_size``),
resident from the first byte: 2,000 XMPP sessions would hold ~500 MiB for buffers that mostly carry
a ping every 20 s. Here the ciphertext waits in a ``MemoryBIO`` that holds only what has arrived, and
plaintext is read in small chunks. Certificate verification is the ``SSLContext``'s, exactly as with
asyncio's TLS (``server_hostname`` is checked when the context says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import cast

from connector.xmpp.tls_sessions import Endpoint, TlsSessionCache

READ_CHUNK_BYTES = 16 * 1024
# Pause reading the socket when this much ciphertext waits undecrypted (the reader is slow).
MAX_PENDING_CIPHERTEXT_BYTES = 64 * 1024


class ReadInterrupted(Exception):
    """:meth:`TlsPipe.read` was woken by :meth:`TlsPipe.interrupt` before any data came. Nothing was
    consumed; the next read carries on."""


class _Wire(asyncio.Protocol):
    """The TCP side: ciphertext into the incoming BIO, wake whoever waits; write flow control."""

    def __init__(self, incoming: ssl.MemoryBIO) -> None:
        self.incoming = incoming
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.eof_seen = False  # no more ciphertext will come (EOF or connection lost)
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's TCP transport has the Transport methods without the base class.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.incoming.write(data)
        if self.incoming.pending > MAX_PENDING_CIPHERTEXT_BYTES and self.transport is not None:
            self.transport.pause_reading()
        self.wake_reader()

    def eof_received(self) -> bool:
        self.eof_seen = True
        self.incoming.write_eof()
        self.wake_reader()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.eof_seen:
            self.eof_seen = True
            self.incoming.write_eof()
        self.wake_reader()
        self.resume_writing()

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        waiter, self._writable = self._writable, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def wake_reader(self) -> None:
        waiter, self._readable = self._readable, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def readable(self) -> asyncio.Future[None]:
        """A future resolved when more ciphertext (or the end of it) comes, or the reader is woken.

        A future rather than a coroutine: a session waits here between notifications, seconds at a
        time, and whatever it waits through lives that long; a bare future is the least the garbage
        collector must scan again and again (see :meth:`TlsPipe.input_waiter`)."""
        if self.transport is not None and self.transport.is_reading() is False and not self.closed:
            self.transport.resume_reading()
        if self._readable is None or self._readable.done():
            # A new future each time: one cancelled with a previous (cancelled) read must not be reused.
            self._readable = asyncio.get_running_loop().create_future()
        return self._readable

    async def wait_writable(self) -> None:
        if self._writable is not None:
            await asyncio.shield(self._writable)  # a cancelled writer must not cancel the others' wait


class TlsPipe:
    """A TLS client connection: :meth:`read` plaintext, :meth:`write` plaintext, :meth:`close`.

    Raises ``OSError`` / ``ssl.SSLError`` like asyncio's streams; callers translate them.
    """

    def __init__(self, *, wire: _Wire, tls: ssl.SSLObject, outgoing: ssl.MemoryBIO) -> None:
        self._wire = wire
        self._tls = tls
        self._outgoing = outgoing
        self._interrupted = False
        # Where to leave this connection's session once the server has sent one (after the first read).
        self._keep_session: tuple[TlsSessionCache, Endpoint] | None = None

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext,
        server_hostname: str,
        tls_sessions: TlsSessionCache | None = None,
    ) -> TlsPipe:
        """Connect and complete the TLS handshake (certificate checked by ``ssl_context``). With
        ``tls_sessions``, offer the session last kept for this endpoint and keep this connection's."""
        endpoint: Endpoint = (host, port, server_hostname)
        offered = None if tls_sessions is None else tls_sessions.session_for(endpoint, ssl_context)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ssl_context.wrap_bio(
            incoming, outgoing, server_side=False, server_hostname=server_hostname, session=offered
        )
        loop = asyncio.get_running_loop()
        _, wire = await loop.create_connection(lambda: _Wire(incoming), host, port)
        pipe = cls(wire=wire, tls=tls, outgoing=outgoing)
        try:
            await pipe._handshake()
        except BaseException:
            pipe.abort()
            if tls_sessions is not None and offered is not None:
                tls_sessions.forget(endpoint)  # whatever went wrong, the next try starts afresh
            raise
        if tls_sessions is not None:
            pipe._keep_session = (tls_sessions, endpoint)
        return pipe

    @property
    def session_reused(self) -> bool:
        """Whether the handshake resumed an earlier session."""
        return self._tls.session_reused

    async def _handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                await self._more_ciphertext()
                continue
            self._flush()
            return

    async def _more_ciphertext(self) -> None:
        if self._wire.eof_seen:
            raise ConnectionResetError("the peer closed the connection during the TLS handshake")
        await self._wire.readable()

    def _flush(self) -> None:
        data = self._outgoing.read()
        transport = self._wire.transport
        if data and transport is not None and not self._wire.closed:
            transport.write(data)

    def interrupt(self) -> None:
        """Make the read waiting now (or the next one that would wait) raise :class:`ReadInterrupted`.

        This is how a reader that also keeps deadlines sleeps on one timer of its own, armed only when
        its next deadline changes, instead of a new ``asyncio.timeout`` around every read."""
        self._interrupted = True
        self._wire.wake_reader()

    def input_waiter(self) -> asyncio.Future[None] | None:
        """``None`` when :meth:`read` may return at once (plaintext or ciphertext is buffered, the stream
        has ended, or :meth:`interrupt` was called); else the future that resolves when that changes.

        A reader that awaits this before calling :meth:`read` waits on one future instead of through
        the coroutines of every layer above, which matters with thousands of idle connections: what a
        waiting reader holds is young garbage-collected memory, rescanned until the next read."""
        wire = self._wire
        if self._interrupted or wire.eof_seen or wire.incoming.pending or self._tls.pending():
            return None
        return wire.readable()

    async def read(self) -> bytes | None:
        """Up to 16 KiB of plaintext; ``None`` at the end (close_notify or the connection closed).
        Raises :class:`ReadInterrupted` after :meth:`interrupt` when no plaintext is ready."""
        while True:
            try:
                data = self._tls.read(READ_CHUNK_BYTES)
            except ssl.SSLWantReadError:
                data = None  # waited for below, outside the handler: the exception is not kept meanwhile
            except ssl.SSLZeroReturnError:
                return None
            except ssl.SSLEOFError:
                return None  # closed without close_notify: the stream layer tells whether that was clean
            if data is None:
                self._flush()  # TLS 1.3 post-handshake messages may need an answer
                if self._wire.eof_seen:
                    return None  # what is left (if anything) is a truncated record
                if self._interrupted:
                    self._interrupted = False
                    raise ReadInterrupted
                await self._wire.readable()
                continue
            self._flush()
            if self._keep_session is not None:
                sessions, endpoint = self._keep_session
                self._keep_session = None
                sessions.remember(endpoint, self._tls)
            return data or None

    async def write(self, data: bytes) -> None:
        if self._wire.closed:
            raise ConnectionResetError("the connection is closed")
        self._tls.write(data)
        self._flush()
        await self._wire.wait_writable()

    def close(self) -> None:
        """Send close_notify (best effort, without waiting for the peer's) and close the socket."""
        if self._wire.closed:
            return
        # The peer's close_notify is not waited for: the stream above has ended anyway.
        with contextlib.suppress(ssl.SSLError, OSError):
            self._tls.unwrap()
        self._flush()
        if self._wire.transport is not None:
            self._wire.transport.close()

    def abort(self) -> None:
        if self._wire.transport is not None:
            self._wire.transport.abort()
