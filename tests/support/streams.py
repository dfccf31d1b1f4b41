"""A raw TCP (optionally TLS) server on an ephemeral loopback port, for tests that script the peer byte by
byte with asyncio streams."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def stream_server(
    handle: StreamHandler, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    """Serve ``handle`` per connection on 127.0.0.1; yields the port; closes the listener afterwards."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
