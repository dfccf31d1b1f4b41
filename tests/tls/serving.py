"""Real servers on loopback for the TLS, PKI and dev IdP tests: uvicorn with a given context factory."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket

from tests.support.timing import seconds


def hello_app() -> Starlette:
    """``GET /`` answers ``hello``; ``/echo`` is a WebSocket that echoes text."""

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            await websocket.send_text(message.get("text") or "")

    return Starlette(routes=[Route("/", hello), WebSocketRoute("/echo", echo)])


ContextFactory = Callable[[Any, Callable[[], ssl.SSLContext]], ssl.SSLContext]


def bound_listener() -> socket.socket:
    """A listening TCP socket on 127.0.0.1, port chosen by the kernel (``getsockname()[1]``)."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when proto is TCP.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    return listener


@asynccontextmanager
async def running_uvicorn(
    app: ASGIApp, *, ssl_context_factory: ContextFactory, listener: socket.socket | None = None
) -> AsyncIterator[int]:
    """Serve ``app`` over TLS on 127.0.0.1 (or on ``listener``); yields the port. The socket listens before
    uvicorn starts, so a client may connect at once (the kernel queues it): nothing waits for readiness."""
    listener = listener or bound_listener()
    port: int = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        ssl_context_factory=ssl_context_factory,
        lifespan="off",
        ws="websockets-sansio",
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield port
    finally:
        server.should_exit = True
        async with asyncio.timeout(seconds(10)):
            await task
        listener.close()


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


async def handshake_fingerprint(
    port: int, context: ssl.SSLContext, *, server_hostname: str | None = None
) -> str:
    """A NEW TLS handshake to 127.0.0.1:``port``; the SHA-256 of the certificate the server presented."""
    async with asyncio.timeout(seconds(5)):
        _reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname=server_hostname
        )
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True)
            assert der is not None
            return fingerprint(der)
        finally:
            writer.close()
            await writer.wait_closed()


async def http_get(port: int, context: ssl.SSLContext, path: str = "/") -> bytes:
    """One HTTP/1.1 GET over a new TLS connection; the raw response. Raises what the connection raises."""
    async with asyncio.timeout(seconds(5)):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            return await reader.read()
        finally:
            writer.close()
            # The server may already have torn a refused connection down.
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                await writer.wait_closed()


def client_context(ca_file: Any, *, cert_file: Any = None, key_file: Any = None) -> ssl.SSLContext:
    """A client context trusting ``ca_file``, optionally presenting a client certificate."""
    context = ssl.create_default_context(cafile=str(ca_file))
    if cert_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file))
    return context
