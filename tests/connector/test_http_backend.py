"""The connector's HTTP pool runs on :class:`CheapIdleCheckBackend`: idle connections are still checked
before reuse (a connection Finesse closed while idle is never written to), through a direct socket poll."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpcore
import httpx

from connector.finesse.client import build_http_client
from connector.finesse.http_backend import CheapIdleCheckBackend, socket_readable
from tests.support.streams import stream_server
from tests.support.timing import seconds

_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def test_a_quiet_socket_is_not_readable_and_data_or_a_close_makes_it_readable() -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        assert not socket_readable(ours)
        peer.sendall(b"x")
        assert socket_readable(ours)
        ours.recv(1)
        assert not socket_readable(ours)
        peer.close()
        assert socket_readable(ours)  # the b"" of the close waits to be read


def test_a_missing_or_closed_socket_counts_as_readable_so_the_pool_drops_it() -> None:
    assert socket_readable(None)
    ours, peer = socket.socketpair()
    peer.close()
    ours.close()
    assert socket_readable(ours)


def test_the_client_built_for_finesse_uses_the_backend(client_ssl_context: ssl.SSLContext) -> None:
    # httpx offers no option for the backend: build_http_client swaps its pool. An httpx release that
    # moves the pool must fail here rather than silently fall back to the slow check.
    http = build_http_client(ssl_context=client_ssl_context)
    transport = http._transport
    assert isinstance(transport, httpx.AsyncHTTPTransport)
    pool = transport._pool
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    assert isinstance(pool._network_backend, CheapIdleCheckBackend)


class ClosingServer:
    """A TLS HTTP/1.1 server that answers one request per connection as keep-alive, then closes the
    connection anyway (as a server does when its keep-alive timeout is shorter than the client's)."""

    def __init__(self) -> None:
        self.connections = 0
        self.closed = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(_RESPONSE)
            await writer.drain()
            # Later than the response: the close must reach the client's socket while the connection
            # is idle in the pool, not ride in with the response (which the client would read with it).
            await asyncio.sleep(0.05)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.closed.set()


@asynccontextmanager
async def serve(app: ClosingServer, context: ssl.SSLContext) -> AsyncIterator[str]:
    async with stream_server(app.handle, ssl_context=context) as port:
        yield f"https://127.0.0.1:{port}"


async def test_a_connection_closed_while_idle_is_not_reused(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    app = ClosingServer()
    async with (
        asyncio.timeout(seconds(10)),
        serve(app, server_ssl_context) as url,
        build_http_client(ssl_context=client_ssl_context) as http,
    ):
        assert (await http.get(f"{url}/first")).text == "ok"
        await app.closed.wait()
        await asyncio.sleep(0.05)  # the close reaches the client's socket (loopback: well within this)
        # Written to the closed connection, the request would fail with "server disconnected".
        assert (await http.get(f"{url}/second")).text == "ok"
        assert app.connections == 2


def test_idle_connections_are_retired_before_finesse_would_close_them(
    client_ssl_context: ssl.SSLContext,
) -> None:
    # A request sent on a connection the server closes at that moment fails ("server disconnected") and
    # is not retried, so the client's idle expiry must be the shorter one (the emulator models Tomcat).
    from fingress.emulator.server import TOMCAT_KEEP_ALIVE_S

    pool = build_http_client(ssl_context=client_ssl_context)._transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    assert pool._keepalive_expiry is not None
    assert pool._keepalive_expiry < TOMCAT_KEEP_ALIVE_S
