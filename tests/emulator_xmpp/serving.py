"""A real uvicorn over TLS serving one side's ``/ws/``, for tests and the benchmark."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette

from fingress.emulator.hub import ClusterPort, Hub
from fingress.emulator.xmpp import XmppServerSettings, websocket_route
from fingress.emulator.xmpp.websocket import WEBSOCKET_PROTOCOL
from tests.support.timing import seconds


@contextlib.asynccontextmanager
async def serving_websocket(
    *,
    hub: Hub,
    cluster: ClusterPort,
    ssl_context: ssl.SSLContext,
    settings: XmppServerSettings,
    ws: type[asyncio.Protocol] | str = WEBSOCKET_PROTOCOL,
) -> AsyncIterator[int]:
    """Side A's ``/ws/`` on a loopback port (yielded); stopped on exit. ``ws`` is uvicorn's WebSocket
    protocol: the emulator's own by default, ``"websockets-sansio"`` for plain ASGI."""
    app = Starlette(routes=[websocket_route(side="A", hub=hub, cluster=cluster, settings=settings)])
    # A socket already listening: clients may connect before uvicorn starts accepting.
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when proto is TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        ws=ws,
        ssl_context_factory=lambda _config, _default: ssl_context,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        async with asyncio.timeout(seconds(10)):
            await task
        sock.close()
