"""The two byte pipes under a client session: direct TLS and WebSocket (RFC 7395, subprotocol ``xmpp``).

Each is a :class:`Link` with three async operations. Exceptions of ``ssl``, ``OSError`` and
``websockets`` never leave this module: they become :class:`XmppError` (``connect_failed``, ``timeout``,
``connection_lost``), raised ``from`` the original.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Protocol

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from connector.xmpp import errors
from connector.xmpp.endpoint import XmppEndpoint
from connector.xmpp.errors import XmppError

SUBPROTOCOL = Subprotocol("xmpp")
READ_CHUNK_BYTES = 16 * 1024
# What a StreamReader buffers before it stops reading the socket; small keeps 2,000 sessions small.
READER_LIMIT_BYTES = 64 * 1024


class Link(Protocol):
    async def send(self, pieces: list[str]) -> None:
        """Write text (stream pieces or WebSocket messages) in order."""

    async def receive(self) -> bytes | str | None:
        """The next bytes or message; ``None`` once the peer has closed. Cancelling is safe."""

    async def aclose(self) -> None:
        """Close, without waiting longer than the link's close timeout. Never raises."""


def _connect_failed(endpoint: XmppEndpoint, error: BaseException) -> XmppError:
    # The exception text of ssl/OSError names no secret; keep it short and without a traceback.
    return XmppError(errors.CONNECT_FAILED, f"{endpoint.describe()}: {type(error).__name__}: {error}"[:300])


class TlsLink:
    """RFC 6120 over direct TLS (``asyncio.open_connection(ssl=…)``)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, close_timeout_s: float):
        self._reader = reader
        self._writer = writer
        self._close_timeout_s = close_timeout_s

    @classmethod
    async def open(
        cls, endpoint: XmppEndpoint, *, ssl_context: ssl.SSLContext, timeout_s: float, close_timeout_s: float
    ) -> TlsLink:
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(
                    endpoint.host,
                    endpoint.port,
                    ssl=ssl_context,
                    server_hostname=endpoint.tls_name,
                    limit=READER_LIMIT_BYTES,
                )
        except TimeoutError as error:
            raise XmppError(errors.TIMEOUT, f"{endpoint.describe()}: no connection in time") from error
        except (OSError, ssl.SSLError) as error:
            raise _connect_failed(endpoint, error) from error
        return cls(reader, writer, close_timeout_s=close_timeout_s)

    async def send(self, pieces: list[str]) -> None:
        try:
            self._writer.write("".join(pieces).encode("utf-8"))
            await self._writer.drain()
        except (OSError, ssl.SSLError) as error:
            raise XmppError(errors.CONNECTION_LOST, f"write failed: {type(error).__name__}") from error

    async def receive(self) -> bytes | None:
        try:
            data = await self._reader.read(READ_CHUNK_BYTES)
        except (OSError, ssl.SSLError) as error:
            raise XmppError(errors.CONNECTION_LOST, f"read failed: {type(error).__name__}") from error
        return data or None

    async def aclose(self) -> None:
        self._writer.close()
        try:
            async with asyncio.timeout(self._close_timeout_s):
                await self._writer.wait_closed()
        except (TimeoutError, OSError, ssl.SSLError):
            self._writer.transport.abort()  # a dead peer never answers the TLS close_notify


class WebSocketLink:
    """RFC 7395 over ``websockets``: one text message per stanza, subprotocol ``xmpp``."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection

    @classmethod
    async def open(
        cls,
        endpoint: XmppEndpoint,
        *,
        ssl_context: ssl.SSLContext,
        timeout_s: float,
        close_timeout_s: float,
        max_message_bytes: int,
    ) -> WebSocketLink:
        try:
            connection = await websockets.connect(
                endpoint.websocket_uri,
                ssl=ssl_context,
                server_hostname=endpoint.tls_name,
                subprotocols=[SUBPROTOCOL],
                # XMPP pings keep the link alive; no deflate context (~300 KiB per connection with zlib).
                compression=None,
                ping_interval=None,
                proxy=None,  # no environment lookups: the LAN path to Finesse is configured, not discovered
                open_timeout=timeout_s,
                close_timeout=close_timeout_s,
                max_size=max_message_bytes,
                max_queue=8,
            )
        except TimeoutError as error:
            raise XmppError(errors.TIMEOUT, f"{endpoint.describe()}: no connection in time") from error
        except (OSError, ssl.SSLError, websockets.exceptions.WebSocketException) as error:
            raise _connect_failed(endpoint, error) from error
        if connection.subprotocol != SUBPROTOCOL:
            await connection.close()
            raise XmppError(errors.CONNECT_FAILED, f"{endpoint.describe()}: server did not accept 'xmpp'")
        return cls(connection)

    async def send(self, pieces: list[str]) -> None:
        try:
            for piece in pieces:
                await self._connection.send(piece)
        except (OSError, websockets.exceptions.WebSocketException) as error:
            raise XmppError(errors.CONNECTION_LOST, f"write failed: {type(error).__name__}") from error

    async def receive(self) -> bytes | str | None:
        try:
            return await self._connection.recv()
        except websockets.exceptions.ConnectionClosedOK:
            return None
        except (OSError, websockets.exceptions.WebSocketException) as error:
            raise XmppError(errors.CONNECTION_LOST, f"read failed: {type(error).__name__}") from error

    async def aclose(self) -> None:
        # Closing a broken connection: nothing more to do.
        with contextlib.suppress(OSError, websockets.exceptions.WebSocketException):
            await self._connection.close()
