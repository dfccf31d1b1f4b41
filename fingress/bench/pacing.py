"""Paced work for the benchmark: the emulator's call-data changes are asked for in small batches on a
fixed schedule, so the rate holds whatever one request takes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence


async def send_paced(
    items: Sequence[str],
    *,
    per_second: float,
    duration_s: float,
    tick_s: float,
    send: Callable[[list[str], int], Awaitable[None]],
) -> None:
    """For ``duration_s``, every ``tick_s`` start ``send(batch, tick_number)`` with the next items of
    ``items`` (cycling), sized so that ``per_second`` items a second go out on average; then wait for every
    send. Sends overlap: a slow one does not delay the next tick."""
    if not items:
        return
    per_tick = per_second * tick_s
    in_flight: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    owed, cursor, ticks = 0.0, 0, 0
    while time.perf_counter() - started < duration_s:
        owed += per_tick
        count, owed = int(owed), owed - int(owed)
        batch = [items[(cursor + offset) % len(items)] for offset in range(count)]
        cursor = (cursor + count) % len(items)
        if batch:
            task = asyncio.create_task(_run(send(batch, ticks)))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        ticks += 1
        # Pace on the schedule, not on the previous tick's end, so a slow tick does not lower the rate.
        await asyncio.sleep(max(0.0, started + ticks * tick_s - time.perf_counter()))
    if in_flight:
        await asyncio.gather(*in_flight)


async def _run(work: Awaitable[None]) -> None:
    await work
