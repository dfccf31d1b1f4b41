"""An httpcore network backend whose connections answer the pool's idle check cheaply.

Before every request, httpcore (1.0.9) asks each pooled connection whether it has expired, and for an idle
HTTP/1.1 connection that means asking its stream whether the socket is readable (a readable idle socket
can only be a server's close). Its anyio stream answers through anyio's typed attributes, which rebuild a
dict of every TLS and socket attribute on each call: ~10 µs per pooled connection per request, so with
the connector's 16 connections to Finesse about 20 % of the connector's CPU while it served the bench's
state changes and call actions (py-spy). The streams here look the raw socket up once and poll it
directly, which is what httpcore's own check does underneath; everything else is delegated unchanged.
"""

# The signatures (``timeout`` parameters included) are httpcore's network-backend interface.
# ruff: noqa: ASYNC109

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


def socket_readable(sock: socket.socket | None) -> bool:
    """Whether a read on ``sock`` would return at once (data, or the b"" of a closed connection); a
    missing or closed socket counts as readable, as in httpcore, so the pool discards the connection."""
    if sock is None:
        return True
    descriptor = sock.fileno()
    if descriptor < 0:
        return True
    poller = select.poll()
    poller.register(descriptor, select.POLLIN)
    return bool(poller.poll(0))


class _Stream(httpcore.AsyncNetworkStream):
    __slots__ = ("_inner", "_socket")

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        # The TCP socket stays the same when TLS starts on top of it.
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return socket_readable(self._socket)
        return self._inner.get_extra_info(info)


class CheapIdleCheckBackend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend with streams that answer ``is_readable`` without anyio's attribute
    machinery (see the module docstring)."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
