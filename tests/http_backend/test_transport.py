"""The connector's own transport against a scripted TLS server: when a connection may carry the next
request (``Connection: close``, HTTP/1.0, a response closed before its end, a malformed answer), the
pool timeout, cancellation at every phase of a request, closing the transport, streaming in both
directions, and failures as httpx's exceptions from their causes. After each, the pool holds exactly
what it should and the server saw the connections the client dropped end."""

from __future__ import annotations

import asyncio
import base64
import ssl
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import h11
import httpcore
import httpx
import pytest

from connector.finesse.http_backend import TlsLayer
from connector.finesse.http_transport import AsyncioHttpTransport, asyncio_http_transport
from tests.http_backend.servers import pattern
from tests.support.streams import stream_server
from tests.support.timing import seconds

Answer = Callable[["ScriptedServer", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class ClientEnded(Exception):
    """An answer saw the client end the connection."""


class HangUp(Exception):
    """An answer closes the connection from the server's side."""


class ScriptedServer:
    """HTTP/1.1 over TLS, one answer per path (bytes to send, or a coroutine that plays the server's
    part). Counts connections, records the paths in arrival order, and notes each connection the
    client ended (EOF or reset seen while the server was reading)."""

    def __init__(self, answers: dict[str, bytes | Answer]) -> None:
        self.answers = answers
        self.connections = 0
        self.paths: list[str] = []
        self.arrived = asyncio.Event()  # set at each request; clear it to wait for the next
        self.ended: list[asyncio.Event] = []
        self.go = asyncio.Event()  # lets a held-back answer go on
        self.done = asyncio.Event()  # the test is over
        self._handlers: list[asyncio.Task[object]] = []

    async def finished(self) -> None:
        """Every connection's handler has ended (the client has closed them all)."""
        await asyncio.gather(*self._handlers)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.append(task)
        self.connections += 1
        ended = asyncio.Event()
        self.ended.append(ended)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length" and int(value):
                        await reader.readexactly(int(value))
                self.paths.append(path)
                self.arrived.set()
                answer = self.answers[path]
                if isinstance(answer, bytes):
                    writer.write(answer)
                    await writer.drain()
                else:
                    await answer(self, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, ClientEnded):
            ended.set()  # the client closed or reset the connection
        except HangUp:
            pass
        finally:
            writer.close()


async def stall(server: ScriptedServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """No answer: read (a request body, if any) until the client ends the connection."""
    while await reader.read(65536):
        pass
    raise ClientEnded


async def partial_body(
    server: ScriptedServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """A head announcing 1,000 bytes, ten of them, then nothing more."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + pattern(10))
    await writer.drain()
    await stall(server, reader, writer)


async def cut_body(
    server: ScriptedServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """A head announcing 1,000 bytes, ten of them, then the connection closed."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + pattern(10))
    await writer.drain()
    raise HangUp


async def on_signal(
    server: ScriptedServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """A chunked body: one piece, then the rest once the test says so."""
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
    await writer.drain()
    await server.go.wait()
    writer.write(b"4\r\nlast\r\n0\r\n\r\n")
    await writer.drain()


async def after_signal(
    server: ScriptedServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await server.go.wait()
    writer.write(_OK)
    await writer.drain()


async def never_read(
    server: ScriptedServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Read nothing more until the test is over, then hang up."""
    await server.done.wait()
    raise HangUp


def http_client(
    tls_layer: TlsLayer,
    context: ssl.SSLContext,
    *,
    max_connections: int = 2,
    timeout: httpx.Timeout | None = None,
) -> httpx.AsyncClient:
    transport = asyncio_http_transport(
        ssl_context=context,
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry_s=60,
        tls=tls_layer,
    )
    return httpx.AsyncClient(
        transport=transport, trust_env=False, timeout=timeout or httpx.Timeout(seconds(5))
    )


def pool_of(http: httpx.AsyncClient) -> AsyncioHttpTransport:
    transport = http._transport
    assert isinstance(transport, AsyncioHttpTransport)
    return transport


@asynccontextmanager
async def scripted(
    answers: dict[str, bytes | Answer],
    tls_layer: TlsLayer,
    server_ssl_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
    *,
    max_connections: int = 2,
    timeout: httpx.Timeout | None = None,
) -> AsyncIterator[tuple[ScriptedServer, str, httpx.AsyncClient]]:
    """The server on 127.0.0.1 over TLS, a client for it, the whole bounded in time."""
    server = ScriptedServer({"/hello": _OK, **answers})
    async with (
        asyncio.timeout(seconds(10)),
        stream_server(server.handle, ssl_context=server_ssl_context) as port,
    ):
        try:
            async with http_client(
                tls_layer, client_ssl_context, max_connections=max_connections, timeout=timeout
            ) as http:
                yield server, f"https://127.0.0.1:{port}", http
        finally:
            server.done.set()
            server.go.set()
            await server.finished()


def assert_pool(http: httpx.AsyncClient, *, held: int, idle: int) -> None:
    pool = pool_of(http).pool
    assert (pool.held, pool.idle, pool.in_use, pool.opening, pool.waiting) == (held, idle, held - idle, 0, 0)


# --- when a connection carries the next request ---------------------------------------------------------


async def assert_dropped_and_replaced(server: ScriptedServer, url: str, http: httpx.AsyncClient) -> None:
    """The first connection was closed and left the pool; the next request opens a second one."""
    await server.ended[0].wait()
    assert_pool(http, held=0, idle=0)
    assert (await http.get(f"{url}/hello")).text == "ok"
    assert server.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ],
    ids=["connection-close", "http-1.0"],
)
async def test_an_answer_that_ends_the_keep_alive_closes_its_connection(
    answer: bytes, tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with scripted({"/last": answer}, tls_layer, server_ssl_context, client_ssl_context) as (
        server,
        url,
        http,
    ):
        assert (await http.get(f"{url}/last")).text == "ok"
        # The client closed it (the server would have kept it open).
        await assert_dropped_and_replaced(server, url, http)
        assert_pool(http, held=1, idle=1)


async def test_bytes_after_a_response_keep_its_connection_from_being_reused(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with scripted({"/twice": _OK + _OK}, tls_layer, server_ssl_context, client_ssl_context) as (
        server,
        url,
        http,
    ):
        assert (await http.get(f"{url}/twice")).text == "ok"
        await server.ended[0].wait()  # not kept: the next answer on it would be the unasked-for one
        assert (await http.get(f"{url}/hello")).text == "ok"
        assert server.connections == 2


async def test_a_head_request_leaves_the_connection_reusable(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with scripted(
        {"/doc": b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"},
        tls_layer,
        server_ssl_context,
        client_ssl_context,
    ) as (server, url, http):
        response = await http.head(f"{url}/doc")
        assert (response.headers["content-length"], response.content) == ("5000", b"")
        assert (await http.get(f"{url}/hello")).text == "ok"
        assert server.connections == 1


async def test_a_response_closed_before_its_end_closes_its_connection(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with scripted({"/partial": partial_body}, tls_layer, server_ssl_context, client_ssl_context) as (
        server,
        url,
        http,
    ):
        async with http.stream("GET", f"{url}/partial") as response:
            assert await anext(response.aiter_raw()) == pattern(10)
            assert_pool(http, held=1, idle=0)  # held while the response is open
        await assert_dropped_and_replaced(server, url, http)


async def test_a_malformed_status_line_is_a_remote_protocol_error_and_the_connection_dropped(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with scripted(
        {"/bad": b"HTTP/1.1 two hundred OK\r\n\r\n"}, tls_layer, server_ssl_context, client_ssl_context
    ) as (server, url, http):
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await http.get(f"{url}/bad")
        assert isinstance(caught.value.__cause__, h11.RemoteProtocolError)
        await assert_dropped_and_replaced(server, url, http)


async def test_a_body_cut_short_is_a_remote_protocol_error(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with scripted({"/cut": cut_body}, tls_layer, server_ssl_context, client_ssl_context) as (
        _server,
        url,
        http,
    ):
        with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
            await http.get(f"{url}/cut")
        assert_pool(http, held=0, idle=0)
        assert (await http.get(f"{url}/hello")).text == "ok"


async def test_a_failed_read_gives_the_connection_back_without_waiting_for_aclose(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with scripted({"/partial": partial_body}, tls_layer, server_ssl_context, client_ssl_context) as (
        server,
        url,
        http,
    ):
        transport = pool_of(http)
        request = httpx.Request("GET", f"{url}/partial", extensions={"timeout": {"read": 0.1}})
        response = await transport.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        with pytest.raises(httpx.ReadTimeout):
            async for _ in response.stream:
                pass
        assert_pool(http, held=0, idle=0)
        await server.ended[0].wait()


# --- the pool timeout and cancellation ------------------------------------------------------------------


async def test_waiting_for_a_connection_longer_than_the_pool_timeout_is_pool_timeout(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with scripted({}, tls_layer, server_ssl_context, client_ssl_context, max_connections=1) as (
        server,
        url,
        http,
    ):
        async with http.stream("GET", f"{url}/hello") as busy:  # holds the only connection until read
            with pytest.raises(httpx.PoolTimeout):
                await http.get(f"{url}/hello", timeout=httpx.Timeout(seconds(5), pool=0.05))
            assert await busy.aread() == b"ok"
        assert (await http.get(f"{url}/hello")).text == "ok"
        assert server.connections == 1


@pytest.mark.parametrize("phase", ["pool", "connect", "write", "head", "body"])
async def test_a_request_cancelled_in_any_phase_leaves_the_pool_whole(
    phase: str, tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    answers: dict[str, bytes | Answer] = {"/stall": stall, "/partial": partial_body, "/later": after_signal}
    async with scripted(answers, tls_layer, server_ssl_context, client_ssl_context, max_connections=1) as (
        server,
        url,
        http,
    ):
        busy: asyncio.Task[httpx.Response] | None = None
        if phase == "pool":  # the only connection busy: the request waits for it
            busy = asyncio.create_task(http.get(f"{url}/later"))
            await server.arrived.wait()
            server.arrived.clear()
            request = asyncio.create_task(http.get(f"{url}/hello"))
            await _until_waiting(http)
        elif phase == "connect":  # a TCP server that never answers the TLS handshake
            accepted = asyncio.Event()

            async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                accepted.set()
                await server.done.wait()
                writer.close()

            async with stream_server(silent) as silent_port:
                request = asyncio.create_task(http.get(f"https://127.0.0.1:{silent_port}/"))
                await accepted.wait()
                request.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await request
                assert_pool(http, held=0, idle=0)
                server.done.set()
        elif phase == "write":  # a request body that stops coming
            stop = asyncio.Event()

            async def body() -> AsyncIterator[bytes]:
                yield b"<User>"
                await stop.wait()
                yield b"</User>"

            request = asyncio.create_task(http.post(f"{url}/stall", content=body()))
            await server.arrived.wait()
        elif phase == "head":
            request = asyncio.create_task(http.get(f"{url}/stall"))
            await server.arrived.wait()
        else:  # the first piece of the body read, the rest never comes
            first_piece: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

            async def read_all() -> httpx.Response:
                async with http.stream("GET", f"{url}/partial") as response:
                    pieces = response.aiter_raw()
                    first_piece.set_result(await anext(pieces))
                    await anext(pieces)
                    return response

            request = asyncio.create_task(read_all())
            assert await first_piece == pattern(10)
        if phase != "connect":
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
        if busy is not None:  # the waiting request left the queue; the busy one goes on
            server.go.set()
            assert (await busy).text == "ok"
            assert_pool(http, held=1, idle=1)
            assert server.connections == 1
        elif phase != "connect":  # the half-used connection was closed
            await server.ended[0].wait()
            assert_pool(http, held=0, idle=0)
        assert (await http.get(f"{url}/hello")).text == "ok"


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for a state the loop reaches on its own; the caller bounds the time."""
    while not condition():
        await asyncio.sleep(0.005)


async def _until_waiting(http: httpx.AsyncClient) -> None:
    await _until(lambda: pool_of(http).pool.waiting == 1)


# --- closing the transport --------------------------------------------------------------------------------


async def test_closing_the_transport_closes_every_connection_and_later_requests_fail_cleanly(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with scripted({"/stall": stall}, tls_layer, server_ssl_context, client_ssl_context) as (
        server,
        url,
        http,
    ):
        in_flight = asyncio.create_task(http.get(f"{url}/stall"))  # one connection in use
        await server.arrived.wait()
        assert (await http.get(f"{url}/hello")).text == "ok"  # and one idle
        assert_pool(http, held=2, idle=1)
        transport = pool_of(http)
        await transport.aclose()
        with pytest.raises(httpx.ReadError, match="closed by the client"):
            await in_flight
        await asyncio.gather(*(ended.wait() for ended in server.ended))
        assert server.connections == 2
        with pytest.raises(httpx.ConnectError, match="closed"):
            await transport.handle_async_request(httpx.Request("GET", f"{url}/hello"))
        assert_pool(http, held=0, idle=0)


# --- streaming ------------------------------------------------------------------------------------------


async def test_response_pieces_reach_the_reader_as_they_arrive(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with scripted({"/pieces": on_signal}, tls_layer, server_ssl_context, client_ssl_context) as (
        server,
        url,
        http,
    ):
        async with http.stream("GET", f"{url}/pieces") as response:
            pieces = response.aiter_raw()
            assert await anext(pieces) == b"first"  # before the server sends the rest
            server.go.set()
            assert [piece async for piece in pieces] == [b"last"]
        assert (await http.get(f"{url}/hello")).text == "ok"
        assert server.connections == 1


# --- failures -------------------------------------------------------------------------------------------


async def test_a_write_the_server_does_not_take_is_write_timeout_and_the_connection_dropped(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with scripted(
        {"/upload": never_read},
        tls_layer,
        server_ssl_context,
        client_ssl_context,
        timeout=httpx.Timeout(seconds(5), write=0.2),
    ) as (_server, url, http):

        async def pieces() -> AsyncIterator[bytes]:
            for _ in range(64):  # beyond both kernels' socket buffers on loopback
                yield b"x" * 1024 * 1024

        with pytest.raises(httpx.WriteTimeout) as caught:
            await http.post(f"{url}/upload", content=pieces())
        assert isinstance(caught.value.__cause__, httpcore.WriteTimeout)
        assert_pool(http, held=0, idle=0)


async def test_a_header_that_cannot_be_sent_is_refused_without_quoting_it(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    secret = base64.b64encode(b"agent:password").decode()  # not in this file's text, which tracebacks quote
    async with scripted({}, tls_layer, server_ssl_context, client_ssl_context) as (server, url, http):
        with pytest.raises(httpx.LocalProtocolError) as caught:
            await http.get(f"{url}/hello", headers={"Authorization": f"Basic {secret}\nX: y"})
        assert secret not in "".join(traceback.format_exception(caught.value))
        assert_pool(http, held=0, idle=0)  # the connection opened for it was closed
        assert server.paths == []


async def test_only_http_and_https_urls_are_served(client_ssl_context: ssl.SSLContext) -> None:
    async with asyncio.timeout(seconds(5)), http_client("memory_bio", client_ssl_context) as http:
        with pytest.raises(httpx.UnsupportedProtocol):
            await pool_of(http).handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/"))
