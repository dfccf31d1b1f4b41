"""Failures surface as httpcore's own exceptions (httpx's above them), raised ``from`` the original, as
httpcore's backends do: refused connections, handshakes that stall or fail verification, resets, writes
that cannot go out."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct

import httpcore
import httpx
import pytest
import trustme

from connector.finesse.http_backend import AsyncioNetworkBackend, TlsLayer
from connector.finesse.http_transport import asyncio_http_transport
from tests.support.streams import stream_server
from tests.support.timing import seconds


def client(tls_layer: TlsLayer, ssl_context: ssl.SSLContext, *, timeout_s: float) -> httpx.AsyncClient:
    transport = asyncio_http_transport(
        ssl_context=ssl_context,
        max_connections=2,
        max_keepalive_connections=2,
        keepalive_expiry_s=60,
        tls=tls_layer,
    )
    return httpx.AsyncClient(transport=transport, trust_env=False, timeout=timeout_s)


def causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, in order. httpcore's pool re-raises ``from None``, which empties
    ``__cause__`` but keeps ``__context__`` (connector.finesse.client reads it the same way)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


async def test_a_refused_connection_is_a_connect_error_caused_by_the_refusal(
    tls_layer: TlsLayer, client_ssl_context: ssl.SSLContext
) -> None:
    with socket.socket() as bound:  # bound, not listening: connections to it are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        async with asyncio.timeout(seconds(10)), client(tls_layer, client_ssl_context, timeout_s=5) as http:
            with pytest.raises(httpx.ConnectError) as caught:
                await http.get(f"https://127.0.0.1:{port}/")
    chain = causes(caught.value)
    assert isinstance(chain[1], httpcore.ConnectError)
    assert isinstance(chain[2], ConnectionRefusedError)


async def test_a_handshake_the_server_never_answers_is_a_connect_timeout(
    tls_layer: TlsLayer, client_ssl_context: ssl.SSLContext
) -> None:
    silent = asyncio.Event()

    async def accept_and_say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await silent.wait()
        writer.close()

    async with (
        asyncio.timeout(seconds(10)),
        stream_server(accept_and_say_nothing) as port,
        client(tls_layer, client_ssl_context, timeout_s=0.2) as http,
    ):
        with pytest.raises(httpx.ConnectTimeout) as caught:
            await http.get(f"https://127.0.0.1:{port}/")
        silent.set()
    assert isinstance(caught.value.__cause__, httpcore.ConnectTimeout)


async def test_a_certificate_from_an_unknown_ca_is_a_connect_error_caused_by_the_verification(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext
) -> None:
    stranger = ssl.create_default_context()
    trustme.CA().configure_trust(stranger)
    await _expect_verification_failure(tls_layer, server_ssl_context, stranger)


async def test_a_certificate_for_another_host_is_a_connect_error_caused_by_the_verification(
    tls_layer: TlsLayer, ca: trustme.CA, client_ssl_context: ssl.SSLContext
) -> None:
    elsewhere = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("finesse-b.example").configure_cert(elsewhere)  # trusted CA, not 127.0.0.1
    await _expect_verification_failure(tls_layer, elsewhere, client_ssl_context)


async def _expect_verification_failure(
    tls_layer: TlsLayer, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()  # the handshake fails first (asyncio's server reports it; nothing to do here)

    async with (
        asyncio.timeout(seconds(10)),
        stream_server(answer, ssl_context=server_context) as port,
        client(tls_layer, client_context, timeout_s=5) as http,
    ):
        with pytest.raises(httpx.ConnectError) as caught:
            await http.get(f"https://127.0.0.1:{port}/")
    chain = causes(caught.value)
    assert isinstance(chain[1], httpcore.ConnectError)
    assert isinstance(chain[2], ssl.SSLCertVerificationError)


async def _reset_after_the_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    # Linger 0: closing sends a reset instead of a FIN.
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@pytest.mark.parametrize("tls", [False, True])
async def test_a_reset_while_waiting_for_the_response_is_a_read_error_caused_by_the_reset(
    tls: bool, tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    backend = AsyncioNetworkBackend(tls=tls_layer)
    async with (
        asyncio.timeout(seconds(10)),
        stream_server(_reset_after_the_request, ssl_context=server_ssl_context if tls else None) as port,
    ):
        stream = await backend.connect_tcp("127.0.0.1", port, timeout=5)
        if tls:
            stream = await stream.start_tls(client_ssl_context, "127.0.0.1", timeout=5)
        await stream.write(b"GET / HTTP/1.1\r\nHost: finesse\r\n\r\n", timeout=5)
        with pytest.raises(httpcore.ReadError) as caught:
            await stream.read(65536, timeout=5)
        await stream.aclose()
    assert isinstance(caught.value.__cause__, ConnectionResetError)


async def test_through_httpx_a_reset_is_httpx_read_error(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with (
        asyncio.timeout(seconds(10)),
        stream_server(_reset_after_the_request, ssl_context=server_ssl_context) as port,
        client(tls_layer, client_ssl_context, timeout_s=5) as http,
    ):
        with pytest.raises(httpx.ReadError) as caught:
            await http.get(f"https://127.0.0.1:{port}/")
    assert isinstance(caught.value.__cause__, httpcore.ReadError)


async def test_a_server_closing_before_it_answers_is_a_remote_protocol_error(
    tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async def close_after_the_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async with (
        asyncio.timeout(seconds(10)),
        stream_server(close_after_the_request, ssl_context=server_ssl_context) as port,
        client(tls_layer, client_ssl_context, timeout_s=5) as http,
    ):
        # The stream's read returned b"" (the end), which h11 calls a disconnect.
        with pytest.raises(httpx.RemoteProtocolError, match="disconnected"):
            await http.get(f"https://127.0.0.1:{port}/")


@pytest.mark.parametrize("tls", [False, True])
async def test_a_write_the_server_does_not_take_times_out(
    tls: bool, tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    stop = asyncio.Event()

    async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await stop.wait()  # the StreamReader stops reading the socket once it holds 128 KiB
        writer.close()

    backend = AsyncioNetworkBackend(tls=tls_layer)
    async with (
        asyncio.timeout(seconds(10)),
        stream_server(never_read, ssl_context=server_ssl_context if tls else None) as port,
    ):
        stream = await backend.connect_tcp("127.0.0.1", port, timeout=5)
        if tls:
            stream = await stream.start_tls(client_ssl_context, "127.0.0.1", timeout=5)

        async def write_64_mib() -> None:
            # Beyond both kernels' socket buffers on loopback (a few MiB each), a piece at a time (the
            # loop's TLS transport takes one write whole and holds back the next).
            for _ in range(64):
                await stream.write(b"x" * 1024 * 1024, timeout=0.2)

        try:
            with pytest.raises(httpcore.WriteTimeout):
                await write_64_mib()
        finally:
            stop.set()
            await stream.aclose()


async def test_writing_to_a_connection_the_server_closed_is_a_write_error(tls_layer: TlsLayer) -> None:
    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    backend = AsyncioNetworkBackend(tls=tls_layer)
    async with asyncio.timeout(seconds(10)), stream_server(close_at_once) as port:
        stream = await backend.connect_tcp("127.0.0.1", port, timeout=5)
        assert await stream.read(1024, timeout=5) == b""  # the server's EOF: our side closes too
        with pytest.raises(httpcore.WriteError):
            await stream.write(b"GET / HTTP/1.1\r\n\r\n", timeout=5)
        await stream.aclose()
