"""The two byte pipes under a client session: direct TLS and WebSocket (RFC 7395, subprotocol ``xmpp``).

Each is a :class:`Link` with three async operations. Both run on :class:`~connector.xmpp.tls_pipe.
TlsPipe` (small buffers, whatever the event loop) and use no task of their own. Exceptions of ``ssl``,
``OSError`` and ``websockets`` never leave this module: they become :class:`XmppError`
(``connect_failed``, ``timeout``, ``connection_lost``), raised ``from`` the original.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Protocol

import websockets
from websockets.typing import Subprotocol

from connector.xmpp import errors
from connector.xmpp.endpoint import XmppEndpoint
from connector.xmpp.errors import XmppError
from connector.xmpp.tls_pipe import TlsPipe
from connector.xmpp.tls_sessions import TlsSessionCache
from connector.xmpp.websocket_pipe import WebSocketPipe, WebSocketRefused, WebSocketViolation

SUBPROTOCOL = Subprotocol("xmpp")
_CONNECT_ERRORS = (OSError, ssl.SSLError, WebSocketRefused, websockets.exceptions.WebSocketException)
_IO_ERRORS = (OSError, ssl.SSLError)


class Link(Protocol):
    async def send(self, pieces: list[str]) -> None:
        """Write text (stream pieces or WebSocket messages) in order."""

    async def receive(self) -> bytes | str | None:
        """The next bytes or message; ``None`` once the peer has closed. Cancelling is safe, and so is
        :meth:`interrupt`: the waiting receive raises ``ReadInterrupted`` having consumed nothing."""

    def input_waiter(self) -> asyncio.Future[None] | None:
        """``None`` when :meth:`receive` may return at once, else a future to await before calling it
        (the cheapest way to wait; see :meth:`~connector.xmpp.tls_pipe.TlsPipe.input_waiter`)."""

    def interrupt(self) -> None:
        """Wake the waiting (or next waiting) :meth:`receive` with ``ReadInterrupted``."""

    async def aclose(self) -> None:
        """Close, without waiting longer than the link's close timeout. Never raises."""


def _connect_failed(endpoint: XmppEndpoint, error: BaseException) -> XmppError:
    # The texts of ssl/OSError/websockets errors name no secret; keep them short, without a traceback.
    return XmppError(errors.CONNECT_FAILED, f"{endpoint.describe()}: {type(error).__name__}: {error}"[:300])


class TlsLink:
    """RFC 6120 over direct TLS (Finesse port 5223)."""

    def __init__(self, pipe: TlsPipe) -> None:
        self._pipe = pipe

    @classmethod
    async def open(
        cls,
        endpoint: XmppEndpoint,
        *,
        ssl_context: ssl.SSLContext,
        timeout_s: float,
        tls_sessions: TlsSessionCache | None = None,
    ) -> TlsLink:
        try:
            async with asyncio.timeout(timeout_s):
                pipe = await TlsPipe.connect(
                    endpoint.host,
                    endpoint.port,
                    ssl_context=ssl_context,
                    server_hostname=endpoint.tls_name,
                    tls_sessions=tls_sessions,
                )
        except TimeoutError as error:
            raise XmppError(errors.TIMEOUT, f"{endpoint.describe()}: no connection in time") from error
        except _CONNECT_ERRORS as error:
            raise _connect_failed(endpoint, error) from error
        return cls(pipe)

    async def send(self, pieces: list[str]) -> None:
        try:
            await self._pipe.write("".join(pieces).encode("utf-8"))
        except _IO_ERRORS as error:
            raise XmppError(errors.CONNECTION_LOST, f"write failed: {type(error).__name__}") from error

    def input_waiter(self) -> asyncio.Future[None] | None:
        return self._pipe.input_waiter()

    def interrupt(self) -> None:
        self._pipe.interrupt()

    async def receive(self) -> bytes | None:
        try:
            return await self._pipe.read()
        except _IO_ERRORS as error:
            raise XmppError(errors.CONNECTION_LOST, f"read failed: {type(error).__name__}") from error

    async def aclose(self) -> None:
        self._pipe.close()


class WebSocketLink:
    """RFC 7395: one text message per stanza, subprotocol ``xmpp``."""

    def __init__(self, pipe: WebSocketPipe, *, close_timeout_s: float) -> None:
        self._pipe = pipe
        self._close_timeout_s = close_timeout_s

    @classmethod
    async def open(
        cls,
        endpoint: XmppEndpoint,
        *,
        ssl_context: ssl.SSLContext,
        timeout_s: float,
        close_timeout_s: float,
        max_message_bytes: int,
        tls_sessions: TlsSessionCache | None = None,
    ) -> WebSocketLink:
        try:
            async with asyncio.timeout(timeout_s):
                pipe = await WebSocketPipe.connect(
                    endpoint.websocket_uri,
                    host=endpoint.host,
                    port=endpoint.port,
                    ssl_context=ssl_context,
                    server_hostname=endpoint.tls_name,
                    subprotocol=SUBPROTOCOL,
                    max_message_bytes=max_message_bytes,
                    tls_sessions=tls_sessions,
                )
        except TimeoutError as error:
            raise XmppError(errors.TIMEOUT, f"{endpoint.describe()}: no connection in time") from error
        except _CONNECT_ERRORS as error:
            raise _connect_failed(endpoint, error) from error
        return cls(pipe, close_timeout_s=close_timeout_s)

    async def send(self, pieces: list[str]) -> None:
        try:
            await self._pipe.send_text(pieces)
        except _IO_ERRORS as error:
            raise XmppError(errors.CONNECTION_LOST, f"write failed: {type(error).__name__}") from error

    def input_waiter(self) -> asyncio.Future[None] | None:
        return self._pipe.input_waiter()

    def interrupt(self) -> None:
        self._pipe.interrupt()

    async def receive(self) -> bytes | str | None:
        try:
            return await self._pipe.receive()
        except WebSocketViolation as error:
            raise XmppError(errors.STREAM_ERROR, error.text, condition=error.condition) from error
        except _IO_ERRORS as error:
            raise XmppError(errors.CONNECTION_LOST, f"read failed: {type(error).__name__}") from error

    async def aclose(self) -> None:
        await self._pipe.close(self._close_timeout_s)
