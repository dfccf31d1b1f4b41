"""What an idle reader holds while it waits. A connector keeps thousands of XMPP sessions, each idle
between notifications: whatever its pump waits through is young memory that the garbage collector
rescans until the next notification (measured: most of the connector's young generation, collections of
several milliseconds in the event path). So the pump waits on one future (``input_waiter``), not through
the coroutines of the WebSocket and TLS layers, and a TLS read waiting for ciphertext keeps no exception.
Over real TLS on loopback, and against the emulator's XMPP servers."""

from __future__ import annotations

import asyncio
import gc
import ssl

import httpx
import pytest

from connector.xmpp.connection import XmppConnection
from connector.xmpp.endpoint import TransportKind
from connector.xmpp.tls_pipe import ReadInterrupted, TlsPipe
from fingress.emulator.server import EmulatorServer
from tests.emulator.conftest import emulator, emulator_config, https  # noqa: F401 - fixtures
from tests.support.timing import seconds
from tests.xmpp.conftest import TlsPipeServed
from tests.xmpp.test_emulator import TRANSPORTS, USER_NODE, connected


async def _first_exchange(pipe: TlsPipe, writer: asyncio.StreamWriter) -> None:
    """One message through: what TLS 1.3 sends after its handshake (session tickets) is read with it, as
    a session's first read does; until then buffered ciphertext rightly means "read now"."""
    writer.write(b"<stream/>")
    await writer.drain()
    assert await pipe.read() == b"<stream/>"


async def _waiting(served: TlsPipeServed) -> tuple[TlsPipe, asyncio.StreamWriter, asyncio.Future[None]]:
    """The pipe after its first exchange, the server's writer, and the pending waiter of an idle reader."""
    pipe, writers = served
    writer = await writers.get()
    await _first_exchange(pipe, writer)
    waiter = pipe.input_waiter()
    assert waiter is not None
    assert not waiter.done()
    return pipe, writer, waiter


def _live(kind: type) -> int:
    return sum(1 for thing in gc.get_objects() if isinstance(thing, kind))


async def test_the_waiter_is_a_future_that_resolves_when_data_comes(
    served: TlsPipeServed,
) -> None:
    async with asyncio.timeout(seconds(5)):
        pipe, writer, waiter = await _waiting(served)
        assert isinstance(waiter, asyncio.Future)
        writer.write(b"<message/>")
        await writer.drain()
        await waiter
        assert pipe.input_waiter() is None  # ciphertext is buffered: a read returns at once
        assert await pipe.read() == b"<message/>"
        assert pipe.input_waiter() is not None  # nothing left


async def test_an_interrupt_resolves_the_waiter_and_the_read_then_raises(
    served: TlsPipeServed,
) -> None:
    async with asyncio.timeout(seconds(5)):
        pipe, _, waiter = await _waiting(served)
        pipe.interrupt()
        await waiter
        assert pipe.input_waiter() is None  # the interrupt is still to be delivered by a read
        with pytest.raises(ReadInterrupted):
            await pipe.read()
        assert pipe.input_waiter() is not None


async def test_the_end_of_the_stream_needs_no_waiting(
    served: TlsPipeServed,
) -> None:
    async with asyncio.timeout(seconds(5)):
        pipe, writer, waiter = await _waiting(served)
        writer.transport.abort()
        await waiter
        assert pipe.input_waiter() is None
        assert await pipe.read() is None


async def test_a_read_waiting_for_ciphertext_keeps_no_exception(
    served: TlsPipeServed,
) -> None:
    pipe, writers = served
    async with asyncio.timeout(seconds(5)):
        writer = await writers.get()
        before = _live(ssl.SSLWantReadError)
        reading = asyncio.create_task(pipe.read())
        for _ in range(3):
            await asyncio.sleep(0)  # the read tried, found nothing and is waiting
        assert not reading.done()
        assert _live(ssl.SSLWantReadError) == before
        writer.write(b"<iq/>")
        await writer.drain()
        assert await reading == b"<iq/>"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_idle_session_pump_waits_on_one_future(
    emulator: EmulatorServer,  # noqa: F811 - the fixture imported above
    https: httpx.AsyncClient,  # noqa: F811
    client_ssl_context: ssl.SSLContext,
    transport: TransportKind,
) -> None:
    async with connected(emulator, client_ssl_context, transport) as connection:
        async with asyncio.timeout(seconds(5)):
            await connection.subscribe(USER_NODE)
            pump = _pump_of(connection)
            while len(pump.get_stack()) != 1:  # the answer is dispatched, then the pump goes idle
                await asyncio.sleep(0.01)
        (frame,) = pump.get_stack()
        assert frame.f_code.co_name == "_pump"  # nothing of the link's layers between it and the future
        async with asyncio.timeout(seconds(5)):
            assert await connection.ping() > 0  # and it still wakes for what comes next


def _pump_of(connection: XmppConnection) -> asyncio.Task[None]:
    # The task is private; its stack is the one thing this test looks at.
    task = connection._task
    assert task is not None
    return task
