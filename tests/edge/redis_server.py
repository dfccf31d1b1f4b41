"""A real Redis (Debian's redis-server) on a loopback port for the shared-counter tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from tests.support.need import need_binary
from tests.support.timing import seconds


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def redis_server() -> AsyncIterator[str]:
    """Yields ``redis://127.0.0.1:<port>/0`` once Redis says it accepts connections."""
    binary = need_binary("redis-server")
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--loglevel", "notice",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        async with asyncio.timeout(seconds(10)):
            while True:
                line = await process.stdout.readline()
                if not line:
                    raise RuntimeError("redis-server exited before it was ready")
                if b"Ready to accept connections" in line:
                    break
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        async with asyncio.timeout(seconds(10)):
            await process.wait()
