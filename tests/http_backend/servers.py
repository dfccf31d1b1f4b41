"""The servers the backend is tested against: a real uvicorn with TLS on an ephemeral loopback port, and
an ASGI app whose routes each exercise one part of an HTTP/1.1 exchange."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def pattern(size: int) -> bytes:
    """``size`` bytes that show where a piece went missing or came twice (no period of a power of two)."""
    block = bytes(range(251))
    return (block * (size // len(block) + 1))[:size]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ExchangeApp:
    """Routes: ``GET /hello`` → ``ok``; ``GET /bytes/N`` → N pattern bytes with a Content-Length;
    ``GET /chunks/K`` → K pieces of 1,000 pattern bytes, streamed (chunked transfer encoding);
    ``PUT|POST /echo`` → ``"<length> <sha256>"`` of the request body; ``GET /stall`` → no answer until
    :attr:`release` is set. Records the client port of every request (one per connection)."""

    def __init__(self) -> None:
        self.client_ports: list[int] = []
        self.release = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.client_ports.append(scope["client"][1])
        path: str = scope["path"]
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if path == "/hello":
            await _respond(send, b"ok")
        elif path.startswith("/bytes/"):
            await _respond(send, pattern(int(path.removeprefix("/bytes/"))))
        elif path.startswith("/chunks/"):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            piece = pattern(1000)
            for _ in range(int(path.removeprefix("/chunks/"))):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        elif path == "/echo":
            await _respond(send, f"{len(body)} {digest(bytes(body))}".encode())
        elif path == "/stall":
            await self.release.wait()
            await _respond(send, b"late")
        else:
            await _respond(send, b"not found", status=404)


async def _respond(send: Send, body: bytes, *, status: int = 200) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # pytest owns the process's signals


@asynccontextmanager
async def running_uvicorn(
    app: ExchangeApp, *, ssl_context: ssl.SSLContext, keep_alive_s: int = 5
) -> AsyncIterator[str]:
    """Serve ``app`` over TLS on 127.0.0.1 (uvicorn closes a connection idle for ``keep_alive_s``);
    yields the base URL. The socket listens before uvicorn starts: early clients wait in the backlog."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(
        app,
        interface="asgi3",
        ssl_context_factory=lambda _config, _default: ssl_context,
        timeout_keep_alive=keep_alive_s,
        timeout_graceful_shutdown=1,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"https://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        app.release.set()
        server.should_exit = True
        await task
        sock.close()
