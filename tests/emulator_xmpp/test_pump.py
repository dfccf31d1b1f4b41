"""The emulator's connection pump writes a session's output the moment it is queued when the writer is
idle and the transport takes it (``write_now``), and leaves to the writer task whatever it does not: output
queued while the writer is busy, what the transport refuses, a failure, the session's end."""

from __future__ import annotations

import asyncio

import pytest

from fingress.emulator.xmpp.pump import ConnectionPump
from tests.support.timing import seconds


class Session:
    """What the pump asks of a ServerSession."""

    def __init__(self) -> None:
        self.finished = False
        self.lost = 0

    def connection_lost(self) -> None:
        self.lost += 1


class Transport:
    """``write_now`` and ``flush`` as a transport supplies them, recording what each was asked to do."""

    def __init__(self, *, takes: bool = True) -> None:
        self.takes = takes
        self.raises = False
        self.now = 0
        self.flushes = 0
        self.flush_may_end = asyncio.Event()
        self.flush_may_end.set()
        self.flushing = asyncio.Event()

    def write_now(self) -> bool:
        self.now += 1
        if self.raises:
            raise ConnectionResetError("gone")
        return self.takes

    async def flush(self) -> None:
        self.flushes += 1
        self.flushing.set()
        await self.flush_may_end.wait()
        self.flushing.clear()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def started(transport: Transport, session: Session) -> tuple[ConnectionPump, asyncio.Task[None]]:
    pump = ConnectionPump(idle_timeout_s=None, close_timeout_s=seconds(5))
    never = asyncio.Event()

    async def receive() -> bool:
        await never.wait()
        return False

    task = asyncio.create_task(
        pump.run(session=session, receive=receive, flush=transport.flush, write_now=transport.write_now)  # type: ignore[arg-type]
    )
    await settle()
    assert transport.flushes == 1  # the first wake, before the writer ever waited
    return pump, task


async def stop(pump: ConnectionPump, session: Session, task: asyncio.Task[None]) -> None:
    session.finished = True
    pump.wake()
    async with asyncio.timeout(seconds(1)):  # well within close_timeout_s: the writer saw the end
        await task


async def test_output_queued_while_the_writer_waits_is_written_in_the_same_call() -> None:
    session, transport = Session(), Transport()
    pump, task = await started(transport, session)
    pump.wake()
    assert transport.now == 1  # before any await: written as the session queued it
    await settle()
    assert transport.flushes == 1  # the writer task had nothing to do
    await stop(pump, session, task)


@pytest.mark.parametrize("failure", ["refused", "raised"])
async def test_what_the_transport_does_not_take_at_once_goes_to_the_writer(failure: str) -> None:
    session, transport = Session(), Transport(takes=failure != "refused")
    transport.raises = failure == "raised"
    pump, task = await started(transport, session)
    pump.wake()
    assert transport.now == 1
    await settle()
    assert transport.flushes == 2
    await stop(pump, session, task)


async def test_output_queued_while_the_writer_flushes_waits_for_it_in_order() -> None:
    session, transport = Session(), Transport()
    pump, task = await started(transport, session)
    transport.flush_may_end.clear()
    transport.takes = False
    pump.wake()  # refused: the writer flushes, and waits for the peer there
    async with asyncio.timeout(seconds(1)):
        await transport.flushing.wait()
    transport.takes = True
    pump.wake()  # queued behind what is being flushed: not written past it
    assert transport.now == 1
    transport.flush_may_end.set()
    await settle()
    assert transport.flushes == 3  # the one refused, then the one queued meanwhile
    await stop(pump, session, task)


async def test_the_end_of_the_session_wakes_the_writer_even_when_everything_was_written() -> None:
    session, transport = Session(), Transport()
    pump, task = await started(transport, session)
    await stop(pump, session, task)
    assert transport.now == 0  # the last output is the writer's flush, not write_now's
    assert transport.flushes == 2
