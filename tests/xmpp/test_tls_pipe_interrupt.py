"""TlsPipe.interrupt: how the XMPP pump wakes from a read for a deadline or a request without a timeout
per read. Over real TLS on loopback; an interrupted read consumes nothing."""

from __future__ import annotations

import asyncio

import pytest

from connector.xmpp.tls_pipe import ReadInterrupted, TlsPipe
from tests.support.timing import seconds
from tests.xmpp.conftest import TlsPipeServed


async def _ciphertext_arrived(pipe: TlsPipe) -> None:
    """Until the server's bytes (or its close) have reached the pipe's buffer, undecrypted: peeks at the
    pipe's wire, as nothing public tells (the pump never needs to know)."""
    wire = pipe._wire
    while wire.incoming.pending == 0 and not wire.eof_seen:
        await asyncio.sleep(0.005)


async def test_an_interrupt_wakes_a_waiting_read_and_the_next_read_gets_the_data(
    served: TlsPipeServed,
) -> None:
    pipe, writers = served
    async with asyncio.timeout(seconds(5)):
        writer = await writers.get()
        reading = asyncio.create_task(pipe.read())
        await asyncio.sleep(0)  # the read is waiting for ciphertext
        assert not reading.done()
        pipe.interrupt()
        with pytest.raises(ReadInterrupted):
            await reading
        writer.write(b"<presence/>")
        await writer.drain()
        assert await pipe.read() == b"<presence/>"


async def test_ready_data_comes_before_an_interrupt_which_then_wakes_the_next_read(
    served: TlsPipeServed,
) -> None:
    pipe, writers = served
    async with asyncio.timeout(seconds(5)):
        writer = await writers.get()
        writer.write(b"<message/>")
        await writer.drain()
        first = await pipe.read()  # waits for the data: no interrupt pending yet
        assert first == b"<message/>"
        writer.write(b"<iq/>")
        await writer.drain()
        await _ciphertext_arrived(pipe)
        pipe.interrupt()
        assert await pipe.read() == b"<iq/>"
        with pytest.raises(ReadInterrupted):
            await pipe.read()  # one interrupt, delivered once nothing is ready


async def test_an_interrupt_before_the_end_of_the_stream_does_not_hide_the_end(
    served: TlsPipeServed,
) -> None:
    pipe, writers = served
    async with asyncio.timeout(seconds(5)):
        writer = await writers.get()
        writer.transport.abort()  # the connection ends with no close_notify
        wire = pipe._wire
        while not wire.eof_seen:
            await asyncio.sleep(0.005)
        pipe.interrupt()
        assert await pipe.read() is None
