"""A server faster than its reader cannot grow the client's memory without limit: the connection stops
reading above ``MAX_BUFFERED_BYTES`` and starts again as the reader catches up, and no byte is lost,
reordered or repeated on the way."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Coroutine, Iterator
from typing import Any

import httpcore
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.finesse.http_backend import (
    MAX_BUFFERED_BYTES,
    RECEIVE_BUFFER_BYTES,
    AsyncioNetworkBackend,
    TlsLayer,
    _PlainStream,
    _Wire,
)
from tests.http_backend.servers import pattern
from tests.support.streams import stream_server
from tests.support.timing import seconds

# What may come on top of the bound: the delivery that crossed it (one receive buffer), and with the
# loop's TLS transport what it had decrypted already when asked to pause (uvloop hands over the rest of
# its 256 KiB read buffer).
_ONE_DELIVERY_BYTES = RECEIVE_BUFFER_BYTES
_LOOP_TLS_SLACK_BYTES = 2 * 256 * 1024


def deliver(wire: _Wire, data: bytes) -> None:
    """What a transport does with received bytes: read them into the protocol's buffer, a buffer at a
    time."""
    while data:
        buffer = wire.get_buffer(-1)
        size = min(len(buffer), len(data))
        buffer[:size] = data[:size]
        wire.buffer_updated(size)
        data = data[size:]


def waiting_bytes(wire: _Wire) -> int:
    return wire.incoming.pending if wire.incoming is not None else wire.buffered_bytes


@pytest.mark.parametrize("tls", [False, True])
async def test_reading_pauses_at_the_bound_and_every_byte_arrives_once_read(
    tls: bool, tls_layer: TlsLayer, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    size = 16 * 1024 * 1024  # beyond the kernels' socket buffers on loopback
    sent = asyncio.Event()

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = pattern(size)
        piece_bytes = 1024 * 1024  # asyncio's TLS transport takes one write whole, holds back the next
        for start in range(0, size, piece_bytes):
            writer.write(data[start : start + piece_bytes])
            await writer.drain()
        sent.set()
        writer.close()

    backend = AsyncioNetworkBackend(tls=tls_layer)
    async with (
        asyncio.timeout(seconds(20)),
        stream_server(flood, ssl_context=server_ssl_context if tls else None) as port,
    ):
        stream = await backend.connect_tcp("127.0.0.1", port, timeout=5)
        if tls:
            stream = await stream.start_tls(client_ssl_context, "127.0.0.1", timeout=5)
        wire: _Wire = stream._wire  # type: ignore[attr-defined]
        bound = MAX_BUFFERED_BYTES + (
            _LOOP_TLS_SLACK_BYTES if tls and tls_layer == "loop" else _ONE_DELIVERY_BYTES
        )
        while not wire.reading_paused:  # the flood reaches the bound without anyone reading
            await asyncio.sleep(0.005)
        assert waiting_bytes(wire) <= bound
        assert not sent.is_set()  # the rest waits on the server's side, not in our memory
        received = bytearray()
        while chunk := await stream.read(65536, timeout=5):
            assert len(chunk) <= 65536
            received += chunk
            assert waiting_bytes(wire) <= bound
        await sent.wait()
        await stream.aclose()
    assert len(received) == size
    assert received == pattern(size)


class _Transport(asyncio.Transport):
    """Just the reading switch a protocol may flip (a seam we own: what _Wire asks of its transport)."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def is_closing(self) -> bool:
        return False


def _completed(coroutine: Coroutine[Any, Any, bytes]) -> bytes:
    """Run a read that must not wait (data is buffered, or the stream has ended) without a loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: bytes = done.value
        return result
    coroutine.close()
    raise AssertionError("the read waited although data was buffered")


@pytest.fixture
def idle_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


_steps = st.lists(
    st.one_of(
        st.tuples(st.just("data"), st.integers(min_value=1, max_value=100_000)),
        st.tuples(st.just("read"), st.integers(min_value=1, max_value=100_000)),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(steps=_steps)
def test_bytes_come_out_in_order_within_max_bytes_and_reading_follows_the_bound(
    steps: list[tuple[str, int]],
) -> None:
    loop = asyncio.new_event_loop()  # never run: a read with data buffered does not wait
    try:
        _check_steps(steps, loop)
    finally:
        loop.close()


def _check_steps(steps: list[tuple[str, int]], loop: asyncio.AbstractEventLoop) -> None:
    wire = _Wire(loop, memoryview(bytearray(RECEIVE_BUFFER_BYTES)))
    transport = _Transport()
    wire.connection_made(transport)
    stream = _PlainStream(wire, transport, tls_layer="memory_bio")
    fed = bytearray()
    read = bytearray()
    for kind, size in steps:
        if kind == "data":
            data = pattern(len(fed) + size)[len(fed) :]
            deliver(wire, data)
            fed += data
        elif len(read) < len(fed):
            chunk = _completed(stream.read(size))
            assert 0 < len(chunk) <= size
            read += chunk
        waiting = len(fed) - len(read)
        assert wire.buffered_bytes == waiting
        # Paused exactly while more than the bound waits (a read that drained below it resumed).
        assert transport.reading == (waiting <= MAX_BUFFERED_BYTES)
        assert read == fed[: len(read)]
    wire.eof_received()
    while chunk := _completed(stream.read(65536)):
        read += chunk
    assert read == fed
    assert _completed(stream.read(65536)) == b""


def test_a_connection_lost_with_an_error_reads_what_arrived_then_fails(
    idle_loop: asyncio.AbstractEventLoop,
) -> None:
    wire = _Wire(idle_loop, memoryview(bytearray(RECEIVE_BUFFER_BYTES)))
    transport = _Transport()
    wire.connection_made(transport)
    stream = _PlainStream(wire, transport, tls_layer="memory_bio")
    deliver(wire, b"HTTP/1.1 200 OK\r\n")
    reset = ConnectionResetError("reset by peer")
    wire.connection_lost(reset)
    assert _completed(stream.read(65536)) == b"HTTP/1.1 200 OK\r\n"
    with pytest.raises(httpcore.ReadError) as caught:
        _completed(stream.read(65536))
    assert caught.value.__cause__ is reset
