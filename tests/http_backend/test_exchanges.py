"""HTTP/1.1 exchanges through httpx on the asyncio-native backend against a real uvicorn over TLS: keep-alive
reuse, the server closing an idle connection, large and chunked responses, request bodies, read timeouts,
and what the stream tells about itself."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpcore
import httpx
import pytest

from connector.finesse.http_backend import MAX_BUFFERED_BYTES, TlsLayer
from connector.finesse.http_transport import asyncio_http_transport
from tests.http_backend.servers import ExchangeApp, digest, pattern, running_uvicorn
from tests.support.timing import seconds


def client(
    tls_layer: TlsLayer, ssl_context: ssl.SSLContext, *, max_connections: int = 4, read_timeout_s: float = 5
) -> httpx.AsyncClient:
    transport = asyncio_http_transport(
        ssl_context=ssl_context,
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry_s=60,
        tls=tls_layer,
    )
    timeout = httpx.Timeout(seconds(5), read=read_timeout_s)
    return httpx.AsyncClient(transport=transport, trust_env=False, timeout=timeout)


@asynccontextmanager
async def exchange(
    tls_layer: TlsLayer,
    server_ssl_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
    *,
    keep_alive_s: int = 5,
    max_connections: int = 4,
    read_timeout_s: float = 5,
) -> AsyncIterator[tuple[ExchangeApp, str, httpx.AsyncClient]]:
    """A fresh ExchangeApp under uvicorn over TLS and a client for it, the whole bounded in time."""
    app = ExchangeApp()
    async with (
        asyncio.timeout(seconds(10)),
        running_uvicorn(app, ssl_context=server_ssl_context, keep_alive_s=keep_alive_s) as url,
        client(
            tls_layer, client_ssl_context, max_connections=max_connections, read_timeout_s=read_timeout_s
        ) as http,
    ):
        yield app, url, http


async def until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition`` (a state the loop reaches on its own); the caller bounds the time."""
    while not condition():
        await asyncio.sleep(0.005)


async def test_sequential_requests_reuse_one_connection(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with exchange(tls_layer, server_ssl_context, client_ssl_context) as (app, url, http):
        for _ in range(3):
            response = await http.get(f"{url}/hello")
            assert response.text == "ok"
        assert len(app.client_ports) == 3
        assert len(set(app.client_ports)) == 1
        # Idle and untouched by the server: not readable, so the pool keeps it.
        assert response.extensions["network_stream"].get_extra_info("is_readable") is False


async def test_a_connection_the_server_closed_while_idle_is_noticed_and_replaced(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with exchange(tls_layer, server_ssl_context, client_ssl_context, keep_alive_s=1) as (
        app,
        url,
        http,
    ):
        first = await http.get(f"{url}/hello")
        stream = first.extensions["network_stream"]
        # uvicorn closes the idle connection after its keep-alive timeout; the pool's idle check sees it.
        await until(lambda: bool(stream.get_extra_info("is_readable")))
        # Written to the closed connection, this request would fail with "server disconnected".
        second = await http.get(f"{url}/hello")
        assert second.text == "ok"
        assert len(set(app.client_ports)) == 2


async def test_concurrent_requests_share_the_pool(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with exchange(tls_layer, server_ssl_context, client_ssl_context, max_connections=3) as (
        app,
        url,
        http,
    ):
        responses = await asyncio.gather(*(http.get(f"{url}/bytes/{n}") for n in range(1, 31)))
        assert [response.content for response in responses] == [pattern(n) for n in range(1, 31)]
        assert len(set(app.client_ports)) <= 3


@pytest.mark.parametrize("size", [0, 1, 16 * 1024 + 1, 5 * MAX_BUFFERED_BYTES + 7, 3_000_000])
async def test_responses_of_any_size_arrive_whole(
    size: int,
    tls_layer: TlsLayer,
    server_ssl_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
) -> None:
    async with exchange(tls_layer, server_ssl_context, client_ssl_context) as (app, url, http):
        response = await http.get(f"{url}/bytes/{size}")
        assert len(response.content) == size
        assert digest(response.content) == digest(pattern(size))
        # And the connection is clean for the next exchange.
        assert (await http.get(f"{url}/hello")).text == "ok"
        assert len(set(app.client_ports)) == 1


async def test_a_chunked_response_arrives_whole_also_when_streamed(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with exchange(tls_layer, server_ssl_context, client_ssl_context) as (_app, url, http):
        response = await http.get(f"{url}/chunks/300")
        assert response.headers["transfer-encoding"] == "chunked"
        assert response.content == pattern(1000) * 300
        async with http.stream("GET", f"{url}/chunks/3") as streamed:
            pieces = [piece async for piece in streamed.aiter_bytes()]
        assert b"".join(pieces) == pattern(1000) * 3


async def test_request_bodies_arrive_whole(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    large = pattern(3_000_000)  # beyond the transport's write buffer: the write waits for the drain

    async def produced() -> AsyncIterator[bytes]:
        for start in range(0, 100_000, 10_000):
            await asyncio.sleep(0)  # a body produced a piece at a time, sent chunked
            yield large[start : start + 10_000]

    async with exchange(tls_layer, server_ssl_context, client_ssl_context) as (app, url, http):
        small = await http.put(f"{url}/echo", content=b"<User><state>READY</state></User>")
        assert small.text == f"33 {digest(b'<User><state>READY</state></User>')}"
        big = await http.post(f"{url}/echo", content=large)
        assert big.text == f"{len(large)} {digest(large)}"
        chunked = await http.post(f"{url}/echo", content=produced())
        assert chunked.text == f"100000 {digest(large[:100_000])}"
        assert len(set(app.client_ports)) == 1


async def test_a_read_timeout_is_httpx_read_timeout_and_the_next_request_works(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with exchange(tls_layer, server_ssl_context, client_ssl_context, read_timeout_s=0.2) as (
        _app,
        url,
        http,
    ):
        with pytest.raises(httpx.ReadTimeout) as caught:
            await http.get(f"{url}/stall")
        assert isinstance(caught.value.__cause__, httpcore.ReadTimeout)
        assert (await http.get(f"{url}/hello")).text == "ok"


async def test_the_stream_describes_its_connection(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with exchange(tls_layer, server_ssl_context, client_ssl_context) as (app, url, http):
        response = await http.get(f"{url}/hello")
        stream = response.extensions["network_stream"]
        assert stream.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        client_host, client_port = stream.get_extra_info("client_addr")[:2]
        assert (client_host, client_port) == ("127.0.0.1", app.client_ports[0])
        assert stream.get_extra_info("server_addr")[:2] == ("127.0.0.1", int(url.rsplit(":", 1)[1]))
        assert stream.get_extra_info("socket").fileno() >= 0
        assert stream.get_extra_info("no such thing") is None
