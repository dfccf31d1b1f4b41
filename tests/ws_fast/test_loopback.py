"""WebSocketPipe against a real ``websockets`` server over TLS on loopback: extra request headers and no
subprotocol (the bench's event sockets), bursts of messages that TLS packs and cuts as it likes, the
server's ping answered, its close code kept; a refused handshake hands over the HTTP response (status,
Retry-After); text that is not UTF-8 fails the connection with 1007."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from connector.xmpp.websocket_pipe import WebSocketPipe, WebSocketRefused, WebSocketViolation
from tests.support.timing import seconds

Handler = Callable[[ServerConnection], Awaitable[None]]
BURST = [
    f'{{"seq": {seq}, "type": "agent.updated", "data": {{"n": "{"é" * (seq % 50)}"}}}}' for seq in range(500)
]
BIG = "x" * 40_000  # several TLS records


@asynccontextmanager
async def server(
    handler: Handler,
    ssl_context: ssl.SSLContext,
    process_request: Callable[[ServerConnection, Request], Response | None] | None = None,
) -> AsyncIterator[int]:
    async with serve(handler, "127.0.0.1", 0, ssl=ssl_context, process_request=process_request) as running:
        yield running.sockets[0].getsockname()[1]


async def connect(port: int, client_ssl_context: ssl.SSLContext, **options: object) -> WebSocketPipe:
    return await WebSocketPipe.connect(
        f"wss://localhost:{port}/api/v1/events",
        host="127.0.0.1",
        port=port,
        ssl_context=client_ssl_context,
        server_hostname="localhost",
        subprotocol=None,
        max_message_bytes=1 << 20,
        **options,  # type: ignore[arg-type]
    )


async def test_messages_in_bursts_a_ping_and_the_close_code(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    seen: dict[str, str | None] = {}
    pong_came = asyncio.Event()

    async def edge(connection: ServerConnection) -> None:
        assert connection.request is not None
        seen["authorization"] = connection.request.headers.get("Authorization")
        seen["subprotocol"] = connection.request.headers.get("Sec-WebSocket-Protocol")
        await connection.send(BURST)  # one message, in 500 fragments
        for message in BURST:
            await connection.send(message)
        await connection.send(BIG)
        await connection.send(b"\x00binary\xff")
        await asyncio.wait_for(await connection.ping(b"still there?"), seconds(5))
        pong_came.set()
        await connection.close(1012, "restart")

    async with asyncio.timeout(seconds(10)), server(edge, server_ssl_context) as port:
        websocket = await connect(port, client_ssl_context, headers={"Authorization": "Bearer t0ken"})
        received = []
        while (message := await websocket.receive()) is not None:
            received.append(message)
        await websocket.close(seconds(5))
    assert seen == {"authorization": "Bearer t0ken", "subprotocol": None}
    assert received == ["".join(BURST), *BURST, BIG, b"\x00binary\xff"]
    assert pong_came.is_set()
    assert websocket.close_code == 1012


async def test_a_refused_handshake_carries_the_status_and_retry_after(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return Response(
            503,
            "Service Unavailable",
            Headers({"Retry-After": "7", "Content-Length": "8", "Connection": "close"}),
            b"no room\n",
        )

    async def never(connection: ServerConnection) -> None:
        raise AssertionError("the handshake was refused")

    async with asyncio.timeout(seconds(10)), server(never, server_ssl_context, refuse) as port:
        with pytest.raises(WebSocketRefused) as refused:
            await connect(port, client_ssl_context)
    assert refused.value.response is not None
    assert refused.value.response.status_code == 503
    assert refused.value.response.headers["Retry-After"] == "7"


async def test_text_that_is_not_utf8_fails_the_connection_with_1007(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    server_saw: list[int | None] = []

    async def edge(connection: ServerConnection) -> None:
        await connection.send("fine")
        await connection.send(b"caf\xc3", text=True)
        await connection.wait_closed()
        server_saw.append(connection.close_code)

    async with asyncio.timeout(seconds(10)), server(edge, server_ssl_context) as port:
        websocket = await connect(port, client_ssl_context)
        assert await websocket.receive() == "fine"
        with pytest.raises(WebSocketViolation) as violation:
            await websocket.receive()
        await websocket.close(seconds(5))
    assert violation.value.condition == "not-well-formed"
    assert server_saw == [1007]
