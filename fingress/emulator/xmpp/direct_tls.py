"""XMPP over direct TLS (RFC 6120 stream inside TLS from the first byte), like Finesse's port 5223."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from fingress.emulator.hub import ClusterPort, Hub, Side
from fingress.emulator.xmpp.pump import ConnectionPump
from fingress.emulator.xmpp.session import ServerSession
from fingress.emulator.xmpp.settings import XmppServerSettings
from fingress.emulator.xmpp.stream_framing import StreamFraming

READ_CHUNK_BYTES = 64 * 1024


class DirectTlsServer:
    """One side's direct-TLS notification listener. ``start()`` binds (port 0 picks a free port, see
    :attr:`port`); ``close()`` stops listening and ends every open session with ``system-shutdown``."""

    def __init__(
        self,
        *,
        side: Side,
        hub: Hub,
        cluster: ClusterPort,
        ssl_context: ssl.SSLContext,
        host: str = "127.0.0.1",
        port: int = 0,
        settings: XmppServerSettings | None = None,
    ) -> None:
        self._side: Side = side
        self._hub = hub
        self._cluster = cluster
        self._ssl_context = ssl_context
        self._host = host
        self._requested_port = port
        self._settings = settings or XmppServerSettings()
        self._server: asyncio.Server | None = None
        self._sessions: set[ServerSession] = set()
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound TCP port (after :meth:`start`)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the direct-TLS XMPP server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve,
            self._host,
            self._requested_port,
            ssl=self._ssl_context,
            ssl_handshake_timeout=self._settings.tls_handshake_timeout_s,
        )

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for session in tuple(self._sessions):
            session.close("system-shutdown")
        connections = tuple(self._connections)
        if connections:
            _, stuck = await asyncio.wait(connections, timeout=2 * self._settings.close_timeout_s)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._pump(reader, writer)
        finally:
            self._connections.discard(task)
            await _close_writer(writer, timeout_s=self._settings.close_timeout_s)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        settings = self._settings
        pump = ConnectionPump(
            idle_timeout_s=settings.idle_timeout_s, close_timeout_s=settings.close_timeout_s
        )
        session = ServerSession(
            side=self._side, hub=self._hub, cluster=self._cluster, settings=settings, wake=pump.wake
        )
        framing = StreamFraming(
            session, max_stanza_bytes=settings.max_stanza_bytes, max_depth=settings.max_depth
        )

        async def receive() -> bool:
            data = await reader.read(READ_CHUNK_BYTES)
            if not data:
                framing.receive_eof()
                return False
            framing.receive_data(data)
            return True

        def write_now() -> bool:
            # Only onto an empty write buffer: what the peer has not read yet is the writer's to wait
            # for (drain), and output queued meanwhile stays in the session, whose bound then applies.
            if writer.transport.is_closing() or writer.transport.get_write_buffer_size():
                return False
            data = framing.data_to_send()
            if data:
                writer.write(data)
            return True

        async def flush() -> None:
            data = framing.data_to_send()
            if data:
                writer.write(data)
                await writer.drain()

        self._sessions.add(session)
        try:
            await pump.run(session=session, receive=receive, flush=flush, write_now=write_now)
        finally:
            self._sessions.discard(session)


async def _close_writer(writer: asyncio.StreamWriter, *, timeout_s: float) -> None:
    # A polite TLS close needs the peer's cooperation; a peer that does not answer gets aborted.
    writer.close()
    try:
        async with asyncio.timeout(timeout_s):
            await writer.wait_closed()
    except (TimeoutError, OSError, ssl.SSLError):
        with contextlib.suppress(Exception):
            writer.transport.abort()
