"""The connector's Finesse client and the bench run on the connector's own transport (pooled HTTP/1.1 on the
asyncio-native backend), with the pool settings they ask for: a client built elsewhere must fail here
rather than silently fall back to httpx's default transport (httpcore's pool on anyio)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from connector.finesse.client import build_http_client
from connector.finesse.http_backend import AsyncioNetworkBackend
from connector.finesse.http_transport import AsyncioHttpTransport, asyncio_http_transport
from tests.support.streams import stream_server
from tests.support.timing import seconds

_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def transport_of(http: httpx.AsyncClient) -> AsyncioHttpTransport:
    transport = http._transport
    assert isinstance(transport, AsyncioHttpTransport)
    return transport


def test_the_client_built_for_finesse_uses_the_backend(client_ssl_context: ssl.SSLContext) -> None:
    transport = transport_of(build_http_client(ssl_context=client_ssl_context))
    assert isinstance(transport.network_backend, AsyncioNetworkBackend)


def test_the_transport_keeps_the_pool_settings_it_was_given(client_ssl_context: ssl.SSLContext) -> None:
    transport = asyncio_http_transport(
        ssl_context=client_ssl_context, max_connections=7, max_keepalive_connections=5, keepalive_expiry_s=3.5
    )
    pool = transport.pool
    assert isinstance(transport.network_backend, AsyncioNetworkBackend)
    assert (pool.max_connections, pool.max_idle_connections, pool.keepalive_expiry_s) == (7, 5, 3.5)
    assert transport.ssl_context is client_ssl_context


def test_an_unknown_tls_layer_is_refused() -> None:
    with pytest.raises(ValueError, match="tls must be"):
        AsyncioNetworkBackend(tls="openssl")  # type: ignore[arg-type]


async def test_unix_sockets_are_not_offered() -> None:
    with pytest.raises(NotImplementedError):
        await AsyncioNetworkBackend().connect_unix_socket("/run/finesse.sock")


def test_idle_connections_are_retired_before_finesse_would_close_them(
    client_ssl_context: ssl.SSLContext,
) -> None:
    # A request sent on a connection the server closes at that moment fails ("server disconnected") and
    # is not retried, so the client's idle expiry must be the shorter one (the emulator models Tomcat).
    from fingress.emulator.server import TOMCAT_KEEP_ALIVE_S

    pool = transport_of(build_http_client(ssl_context=client_ssl_context)).pool
    assert pool.keepalive_expiry_s < TOMCAT_KEEP_ALIVE_S


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


async def test_the_finesse_client_does_not_reuse_a_connection_closed_while_idle(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    app = ClosingServer()
    async with (
        asyncio.timeout(seconds(10)),
        serve(app, server_ssl_context) as url,
        build_http_client(ssl_context=client_ssl_context) as http,
    ):
        first = await http.get(f"{url}/first")
        assert first.text == "ok"
        await app.closed.wait()
        stream = first.extensions["network_stream"]
        while not stream.get_extra_info("is_readable"):  # the close reaches the client's loop
            await asyncio.sleep(0.005)
        # Written to the closed connection, the request would fail with "server disconnected".
        assert (await http.get(f"{url}/second")).text == "ok"
        assert app.connections == 2


def test_the_bench_pools_run_on_the_backend_and_retire_idle_connections_before_the_servers_do(
    ca_file: Path,
) -> None:
    # The edge's listeners keep uvicorn's keep-alive timeout (its config sets none); the emulator models
    # Tomcat's. At equal timeouts a request can go out on a connection the server is closing.
    from edge.server import _uvicorn_config
    from fingress.bench.fleet import Fleet, Progress
    from fingress.bench.target import Target
    from fingress.emulator.server import TOMCAT_KEEP_ALIVE_S

    async def no_app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("not called")

    edge_keep_alive_s = _uvicorn_config(no_app, timeout_graceful_shutdown_s=1).timeout_keep_alive
    target = Target(
        public_url="https://127.0.0.1:8443", emulator_url="https://127.0.0.1:8445", ca_file=ca_file, agents=[]
    )
    fleet = Fleet(target=target, concurrency=20, progress=Progress())
    clients = [fleet.api_for(n) for n in range(3)] + [fleet.control_for(n) for n in range(3)]
    assert len({id(client) for client in clients}) == 6  # 20 in flight: three shards each
    for http in clients:
        transport = transport_of(http)
        pool = transport.pool
        assert isinstance(transport.network_backend, AsyncioNetworkBackend)
        assert pool.max_connections == pool.max_idle_connections
        assert pool.keepalive_expiry_s < edge_keep_alive_s
        assert pool.keepalive_expiry_s < TOMCAT_KEEP_ALIVE_S
    assert str(fleet.api_for(0).base_url) == "https://127.0.0.1:8443"
    assert str(fleet.control_for(0).base_url) == "https://127.0.0.1:8445"
