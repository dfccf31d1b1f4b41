"""The connector's shared Finesse HTTP client keeps every connection it opens: a second burst of requests
reuses them all instead of paying a TLS handshake per reopened connection."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from connector.finesse.client import build_http_client
from tests.support.streams import stream_server
from tests.support.timing import seconds

_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class BurstServer:
    """A TLS HTTP/1.1 keep-alive server that answers a burst only once all of its requests have arrived,
    so the client must hold one connection per request, and that counts the connections it accepted."""

    def __init__(self, *, burst: int) -> None:
        self.burst = burst
        self.connections = 0
        self._waiting: list[asyncio.Future[None]] = []
        self._handlers: set[asyncio.Task[object]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                arrived = asyncio.get_running_loop().create_future()
                self._waiting.append(arrived)
                if len(self._waiting) == self.burst:
                    for future in self._waiting:
                        future.set_result(None)
                    self._waiting = []
                await arrived
                writer.write(_RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serve(app: BurstServer, context: ssl.SSLContext) -> AsyncIterator[str]:
    async with stream_server(app.handle, ssl_context=context) as port:
        try:
            yield f"https://127.0.0.1:{port}"
        finally:
            await app.close()


async def test_a_second_burst_reuses_every_connection(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    limit = 16
    app = BurstServer(burst=limit)
    async with (
        asyncio.timeout(seconds(10)),
        serve(app, server_ssl_context) as url,
        build_http_client(ssl_context=client_ssl_context, max_connections=limit) as http,
    ):
        for _ in range(2):
            responses = await asyncio.gather(*(http.get(f"{url}/{n}") for n in range(limit)))
            assert [response.text for response in responses] == ["ok"] * limit
        assert app.connections == limit


async def test_a_smaller_keep_alive_pool_can_still_be_asked_for(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    app = BurstServer(burst=4)
    async with (
        asyncio.timeout(seconds(10)),
        serve(app, server_ssl_context) as url,
        build_http_client(
            ssl_context=client_ssl_context, max_connections=4, max_keepalive_connections=2
        ) as http,
    ):
        for _ in range(2):
            await asyncio.gather(*(http.get(f"{url}/{n}") for n in range(4)))
        # Two of the four idle connections were closed after the first burst and opened again.
        assert app.connections == 6
