"""The connector's httpx transport: pooled HTTP/1.1 keep-alive connections on asyncio, without httpcore's
connection pool and without anyio.

httpx's own transport hands every request to httpcore's pool, which costs more than the exchange itself
at the connector's load: anyio cancel scopes and shields around every request, a pass over every
connection on every request, a lock per connection state change (py-spy: over half of the ~1 ms of CPU a
Finesse GET cost in a 2,000-agent sign-in storm). :class:`AsyncioHttpTransport` does the same work
directly: :class:`~connector.finesse.http_pool.ConnectionPool` decides which connection a request gets,
:class:`~connector.finesse.http11.Http11Connection` (h11) speaks HTTP/1.1 on it, and the connections are
the streams of :class:`~connector.finesse.http_backend.AsyncioNetworkBackend`.

What a request goes through, and what it raises (httpx's exceptions, ``from`` the original):

1. a slot in the pool: an idle connection to reuse or a free slot; waiting is bounded by the request's
   ``pool`` timeout (``PoolTimeout``);
2. in a free slot, a new connection: TCP, then TLS checked against the transport's ``ssl_context``, each
   bounded by the ``connect`` timeout (``ConnectError`` / ``ConnectTimeout``; a failed certificate check
   is a ``ConnectError`` caused by :class:`ssl.SSLCertVerificationError`);
3. the request written (``write`` timeout per write) and the response head read (``read`` timeout per
   read), as in :mod:`~connector.finesse.http11`;
4. the response body, streamed to httpx as it arrives. Its end gives the connection back to the pool
   for the next request, when keep-alive allows; closing the response before its end closes the
   connection (what is left of the body cannot be skipped safely).

Nothing is retried: a request may have reached the server. A request cancelled at any point
(``asyncio.CancelledError``, ``asyncio.timeout``) gives its slot back and closes a connection it had
started using. :meth:`AsyncioHttpTransport.aclose` closes every connection; later requests fail with
``ConnectError``. Only ``http`` and ``https`` URLs, HTTP/1.1, no proxies. A transport serves one event loop
at a time, as httpx's clients do.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpcore
import httpx

from connector.finesse.http11 import Http11Connection
from connector.finesse.http_backend import AsyncioNetworkBackend, TlsLayer
from connector.finesse.http_pool import ConnectionPool

_DEFAULT_PORTS = {b"https": 443, b"http": 80}


class AsyncioHttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one pool of at most ``max_connections`` HTTP/1.1 connections (all
    origins together), of which up to ``max_keepalive_connections`` are kept alive when idle, each for
    ``keepalive_expiry_s`` at most. Connections come from ``network_backend``; TLS is verified as
    ``ssl_context`` says. See the module docstring for what a request goes through."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        max_connections: int,
        max_keepalive_connections: int,
        keepalive_expiry_s: float,
        network_backend: AsyncioNetworkBackend,
    ) -> None:
        self.ssl_context = ssl_context
        self.network_backend = network_backend
        self.pool: ConnectionPool[Http11Connection] = ConnectionPool(
            max_connections=max_connections,
            max_idle_connections=max_keepalive_connections,
            keepalive_expiry_s=keepalive_expiry_s,
        )

    def __repr__(self) -> str:
        return f"AsyncioHttpTransport({self.pool!r}, {self.network_backend!r})"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        default_port = _DEFAULT_PORTS.get(scheme)
        if default_port is None:
            raise httpx.UnsupportedProtocol(f"only http and https URLs are supported, not {url.scheme!r}")
        origin = (scheme, url.raw_host, url.port or default_port)
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout") or {}
        pool = self.pool
        connection = await pool.acquire(origin, timeout_s=timeouts.get("pool"))
        if connection is None:
            try:
                connection = await self._connect(origin, request.extensions, timeouts.get("connect"))
            except BaseException:
                pool.abandon()
                raise
            pool.opened(connection)
        read_timeout_s = timeouts.get("read")
        try:
            # A server may answer before it has read the whole request (an early error) and close: its
            # answer says more than the failed write (httpcore does the same).
            with contextlib.suppress(httpx.WriteError):
                await connection.send_request(request, write_timeout_s=timeouts.get("write"))
            head = await connection.receive_response_head(read_timeout_s=read_timeout_s)
        except BaseException:
            pool.release(connection, reusable=False)
            raise
        return httpx.Response(
            status_code=head.status_code,
            headers=head.headers.raw_items(),
            stream=_ResponseBody(connection, pool, read_timeout_s),
            extensions={
                "http_version": b"HTTP/" + head.http_version,
                "reason_phrase": head.reason,
                "network_stream": connection.stream,
            },
        )

    async def _connect(
        self, origin: tuple[bytes, bytes, int], extensions: Mapping[str, Any], timeout_s: float | None
    ) -> Http11Connection:
        scheme, raw_host, port = origin
        host = raw_host.decode("ascii")
        try:
            plain = await self.network_backend.connect(host, port, timeout_s=timeout_s)
            if scheme == b"https":
                server_hostname = extensions.get("sni_hostname") or host
                stream = await plain.start_tls(self.ssl_context, server_hostname, timeout=timeout_s)
                return Http11Connection(origin=origin, stream=stream)
        except httpcore.ConnectTimeout as exc:
            raise httpx.ConnectTimeout(str(exc)) from exc
        except httpcore.ConnectError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        return Http11Connection(origin=origin, stream=plain)

    async def aclose(self) -> None:
        """Close every connection, idle or in use; requests after this fail with ``ConnectError``."""
        self.pool.close()


class _ResponseBody(httpx.AsyncByteStream):
    """A response's body as it arrives; holds the connection until the end (given back for reuse) or
    until closed before it (the connection closed)."""

    __slots__ = ("_connection", "_pool", "_read_timeout_s")

    def __init__(
        self,
        connection: Http11Connection,
        pool: ConnectionPool[Http11Connection],
        read_timeout_s: float | None,
    ) -> None:
        self._connection: Http11Connection | None = connection
        self._pool = pool
        self._read_timeout_s = read_timeout_s

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            return  # closed already (httpx itself refuses to read a closed response)
        try:
            while (
                chunk := await connection.receive_body_chunk(read_timeout_s=self._read_timeout_s)
            ) is not None:
                yield chunk
        except BaseException:
            # A failed read, a cancellation, or the reader stopping early (GeneratorExit): the connection
            # is somewhere inside a response and cannot carry another.
            self._give_back(reusable=False)
            raise
        self._give_back(reusable=connection.finish())

    async def aclose(self) -> None:
        self._give_back(reusable=False)

    def _give_back(self, *, reusable: bool) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.release(connection, reusable=reusable)


def asyncio_http_transport(
    *,
    ssl_context: ssl.SSLContext,
    max_connections: int,
    max_keepalive_connections: int,
    keepalive_expiry_s: float,
    tls: TlsLayer = "memory_bio",
) -> AsyncioHttpTransport:
    """The connector's httpx transport (:class:`AsyncioHttpTransport`) on a fresh
    :class:`~connector.finesse.http_backend.AsyncioNetworkBackend` with TLS layer ``tls``.

    Certificates are verified as ``ssl_context`` says. Idle connections are closed after
    ``keepalive_expiry_s``; keep that below the server's own keep-alive timeout, or a request can be sent
    on a connection the server is closing at that moment ("server disconnected", not retried)."""
    return AsyncioHttpTransport(
        ssl_context=ssl_context,
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive_connections,
        keepalive_expiry_s=keepalive_expiry_s,
        network_backend=AsyncioNetworkBackend(tls=tls),
    )
