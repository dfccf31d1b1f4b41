"""send_paced: batches on a fixed schedule, cycling through the items at the asked rate."""

from __future__ import annotations

import asyncio

from fingress.bench.pacing import send_paced


async def test_batches_cycle_through_the_items_at_the_asked_rate() -> None:
    sent: list[tuple[int, list[str]]] = []

    async def send(batch: list[str], tick: int) -> None:
        sent.append((tick, batch))

    async with asyncio.timeout(5):
        await send_paced(["a", "b", "c"], per_second=25.0, duration_s=0.35, tick_s=0.1, send=send)
    assert 3 <= len(sent) <= 5
    assert [tick for tick, _ in sent] == list(range(len(sent)))
    flat = [item for _, batch in sent for item in batch]
    # 2.5 items per tick: batches of 2 and 3 in turn, the items in order, wrapping around.
    assert [len(batch) for _, batch in sent][:4] == [2, 3, 2, 3][: len(sent)]
    assert flat == (["a", "b", "c"] * 5)[: len(flat)]


async def test_a_slow_send_does_not_hold_the_next_tick_and_every_send_is_awaited() -> None:
    finished: list[int] = []

    async def send(_batch: list[str], tick: int) -> None:
        await asyncio.sleep(0.6 if tick == 0 else 0)  # longer than the whole run
        finished.append(tick)

    async with asyncio.timeout(5):
        await send_paced(["a"], per_second=10.0, duration_s=0.3, tick_s=0.1, send=send)
    assert finished[-1] == 0  # the slow first send finished last, after the ticks that followed it
    assert sorted(finished) == list(range(len(finished)))


async def test_nothing_to_send_returns_at_once() -> None:
    async def send(_batch: list[str], _tick: int) -> None:
        raise AssertionError("nothing to send")

    async with asyncio.timeout(1):
        await send_paced([], per_second=10.0, duration_s=10.0, tick_s=0.1, send=send)
