"""Clock and timers, injected into the cluster model so it never reads a clock or sleeps itself.

:class:`AsyncioScheduler` runs timers on the event loop; :class:`ManualScheduler` runs them when a test
calls :meth:`ManualScheduler.advance`, so a 60 s presence timer takes no time at all.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

T = TypeVar("T")


class TimerHandle(Protocol):
    def cancel(self) -> None:
        """Stop the timer; cancelling a fired or cancelled timer does nothing."""


class Scheduler(Protocol):
    """What the cluster model needs from time."""

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` once, ``delay_s`` seconds from now."""

    def monotonic_s(self) -> float:
        """Seconds on a clock that never goes backwards (for ordering and lockouts)."""

    def utc_now(self) -> datetime:
        """Wall-clock time, for timestamps shown to clients."""


class AsyncioScheduler:
    """Timers on the running event loop (construct it inside the loop). :meth:`close` cancels the ones
    still waiting, so a stopped emulator publishes nothing afterwards."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._waiting: set[asyncio.TimerHandle] = set()

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> TimerHandle:
        def fire() -> None:
            self._waiting.discard(handle)
            callback()

        handle = self._loop.call_later(max(delay_s, 0.0), fire)
        self._waiting.add(handle)
        return handle

    def close(self) -> None:
        waiting, self._waiting = self._waiting, set()
        for handle in waiting:
            handle.cancel()

    def monotonic_s(self) -> float:
        return self._loop.time()

    def utc_now(self) -> datetime:
        return datetime.now(UTC)


class _ManualTimer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualScheduler:
    """A clock that moves only when told to; timers fire in due order during :meth:`advance`."""

    def __init__(self, *, start: datetime | None = None) -> None:
        self._now_s = 0.0
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._queue: list[tuple[float, int, _ManualTimer, Callable[[], None]]] = []
        self._sequence = itertools.count()

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _ManualTimer()
        heapq.heappush(self._queue, (self._now_s + max(delay_s, 0.0), next(self._sequence), timer, callback))
        return timer

    def monotonic_s(self) -> float:
        return self._now_s

    def utc_now(self) -> datetime:
        return self._start + timedelta(seconds=self._now_s)

    def advance(self, seconds: float) -> None:
        """Move the clock forward, running every timer that falls due (including ones scheduled meanwhile)."""
        deadline = self._now_s + seconds
        while self._queue and self._queue[0][0] <= deadline:
            due_s, _sequence, timer, callback = heapq.heappop(self._queue)
            self._now_s = max(self._now_s, due_s)
            if not timer.cancelled:
                callback()
        self._now_s = deadline

    def run_pending(self) -> None:
        """Run what is due now (zero-delay work such as asynchronous REST processing)."""
        self.advance(0.0)

    @property
    def pending(self) -> int:
        """How many live timers are waiting."""
        return sum(1 for _due, _seq, timer, _cb in self._queue if not timer.cancelled)


def spread_evenly(items: Sequence[T], spread_s: float, slot_s: float) -> list[tuple[float, list[T]]]:
    """``items`` in order, item ``i`` due ``i * spread_s / len(items)`` seconds from now, grouped as
    ``(delay_s, group)``: the items due within ``slot_s`` of a group's first item go with it, at its time
    (each item alone when ``slot_s`` is 0). A timer per slot rather than per item, because every timer is
    a wake-up of the event loop, and a wake-up costs more CPU than publishing a change."""
    if not items:
        return []
    step_s = spread_s / len(items)
    groups: list[tuple[float, list[T]]] = []
    for index, item in enumerate(items):
        due_s = index * step_s
        if groups and due_s - groups[-1][0] < slot_s:
            groups[-1][1].append(item)
        else:
            groups.append((due_s, [item]))
    return groups
