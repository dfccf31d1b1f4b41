"""A canned Finesse: a tiny starlette app on real uvicorn over TLS, answering what a test tells it to.

It serves the shapes the emulator cannot produce (the HTML error page, odd casing, 501, a hanging answer)
and records every request it receives so a test can check what the client sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Canned:
    status: int
    body: bytes = b""
    content_type: str = "application/xml"
    # Hold the answer until the test ends (for client timeouts).
    hang: bool = False


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    # The path as sent, before percent-decoding.
    raw_path: bytes
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class CannedFinesse:
    base_url: str = ""
    answers: dict[tuple[str, str], Canned] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def answer(self, method: str, path: str, canned: Canned) -> None:
        self.answers[(method, path)] = canned

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        self.received.append(
            Received(
                method=request.method,
                path=request.url.path,
                raw_path=request.scope.get("raw_path", b""),
                query=request.url.query,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
            )
        )
        canned = self.answers.get((request.method, request.url.path))
        if canned is None:
            return Response(b"no canned answer", status_code=599)
        if canned.hang:
            await self.release.wait()
        return Response(canned.body, status_code=canned.status, media_type=canned.content_type)

    def app(self) -> Starlette:
        methods = ["GET", "PUT", "POST", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=methods)])


def listening_socket() -> socket.socket:
    """A loopback socket already listening: clients may connect before uvicorn starts accepting.

    ``IPPROTO_TCP`` must be explicit: asyncio sets TCP_NODELAY only on accepted sockets whose protocol says
    TCP, and without it every response split over two writes stalls ~40 ms (Nagle + delayed ACK)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@contextlib.asynccontextmanager
async def serve_canned(server_ssl_context: ssl.SSLContext) -> AsyncIterator[CannedFinesse]:
    canned = CannedFinesse()
    sock = listening_socket()
    port = sock.getsockname()[1]
    canned.base_url = f"https://127.0.0.1:{port}"
    config = uvicorn.Config(
        canned.app(),
        lifespan="off",
        log_level="warning",
        access_log=False,
        ssl_context_factory=lambda _config, _default: server_ssl_context,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield canned
    finally:
        canned.release.set()
        server.should_exit = True
        async with asyncio.timeout(5):
            await task
        sock.close()
