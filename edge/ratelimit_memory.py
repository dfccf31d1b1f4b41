"""The edge's ``memory://`` rate-limit store: counters and hit times for one process, whose expiry costs
nothing per hit.

``limits``' own ``MemoryStorage`` starts a task after every hit that walks every key it holds (and hops to
a thread per moving-window key), and keeps an ``asyncio.Lock`` per key: with thousands of agents each hit
costs in proportion to the number of keys. Here an expired key is dropped when it is read, and the keys
nobody reads again are swept out at most once per ``sweep_interval_s`` — or sooner when the number of keys
has doubled since the last sweep, which bounds memory under a flood of new identities while keeping the
sweep's cost amortised to a constant per new key.

Answers are those of ``MemoryStorage`` when its sweep has caught up, for all three strategies
(``tests/edge/test_ratelimit_memory.py`` holds it to that on random sequences). The one deliberate
difference is :meth:`MemoryRateLimitStorage.reset`'s count; see there.
"""

from __future__ import annotations

import time
from array import array
from bisect import bisect_right
from collections.abc import Callable
from itertools import repeat
from math import floor

from limits.aio.storage import Storage
from limits.storage.base import TimestampedSlidingWindow

# Below this many keys the size trigger stays off: sweeping a small table often is cheap but pointless.
_MIN_KEYS_BEFORE_SWEEP = 1024


class _Counter:
    """A fixed-window counter (the sliding window counter uses two: the previous and the current window)."""

    __slots__ = ("count", "expires_at")

    def __init__(self) -> None:
        self.count = 0
        self.expires_at = 0.0


class _Window:
    """A moving window: the times of the hits still inside it, oldest first, as unboxed doubles (8 bytes a
    hit, where a list of objects costs ~20 times that), and the window's length as last asked for."""

    __slots__ = ("expiry_s", "hit_times")

    def __init__(self, expiry_s: float) -> None:
        self.expiry_s = expiry_s
        self.hit_times = array("d")


class MemoryRateLimitStorage(Storage, TimestampedSlidingWindow):
    """A ``limits.aio`` storage for one process, for the fixed-window, moving-window and
    sliding-window-counter strategies.

    No locks: every method runs from start to end without awaiting anything, and the edge runs one event
    loop, so no other hit can interleave with a read-then-write. ``clock`` gives the wall-clock time
    (``limits`` computes window boundaries and reset times from ``time.time()``).
    """

    # The methods of limits' MovingWindowSupport and SlidingWindowCounterSupport are here, but not those
    # classes: subclassing them wraps each of their methods in an error-translating layer, twice over
    # (Storage.__init_subclass__ runs theirs twice), ~0.9 us of a hit's ~5; the strategies find the
    # methods by name, and nothing asks isinstance.

    # No scheme: limits' registry of schemes is global, and the edge builds its store itself.
    STORAGE_SCHEME = None

    def __init__(self, *, clock: Callable[[], float] = time.time, sweep_interval_s: float = 5.0) -> None:
        super().__init__()
        self._clock = clock
        self._sweep_interval_s = sweep_interval_s
        self._counters: dict[str, _Counter] = {}
        self._windows: dict[str, _Window] = {}
        self._last_sweep_at = clock()
        self._sweep_at_keys = _MIN_KEYS_BEFORE_SWEEP

    @property
    def keys_held(self) -> int:
        """How many keys the store holds, expired ones not yet dropped included."""
        return len(self._counters) + len(self._windows)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        # Nothing here does I/O; what can go wrong is a bad argument, as with limits' memory store.
        return ValueError

    # --- Storage ------------------------------------------------------------------------------------

    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Add ``amount`` to ``key``'s counter; a counter that starts from zero expires ``expiry`` seconds
        from now. Returns the new count."""
        return self._add(key, expiry, amount, self._clock())

    async def get(self, key: str) -> int:
        """``key``'s count, 0 once it has expired."""
        counter = self._live_counter(key, self._clock())
        return 0 if counter is None else counter.count

    async def get_expiry(self, key: str) -> float:
        """When ``key``'s counter expires; now when there is none."""
        now = self._clock()
        counter = self._live_counter(key, now)
        return now if counter is None else counter.expires_at

    async def clear(self, key: str) -> None:
        """Forget ``key``'s counter and moving window."""
        self._counters.pop(key, None)
        self._windows.pop(key, None)

    async def reset(self) -> int | None:
        """Forget everything. Returns how many live keys were forgotten (``MemoryStorage`` returns the
        larger of its counter and window table sizes, expired keys not yet swept included; the two agree
        when a store holds only one kind, as it does under one strategy)."""
        now = self._clock()
        live = sum(1 for counter in self._counters.values() if counter.expires_at > now)
        live += sum(1 for window in self._windows.values() if _newest_expires_at(window) > now)
        self._counters.clear()
        self._windows.clear()
        return live

    async def check(self) -> bool:
        """Always healthy: there is nothing to reach."""
        return True

    # --- SlidingWindowCounterSupport ----------------------------------------------------------------

    async def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Count ``amount`` hits in the current window if the previous window's count, weighted by how much
        of it still overlaps the sliding window, plus the current count stays within ``limit``."""
        if amount > limit:
            return False
        now = self._clock()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        previous_count, previous_ttl_s, current_count, _ = self._sliding_window(
            previous_key, current_key, expiry, now
        )
        previous_weight = previous_count * previous_ttl_s / expiry
        if floor(previous_weight + current_count) + amount > limit:
            return False
        # The current window's counter lives on as the next window's previous one.
        current_count = self._add(current_key, 2 * expiry, amount, now)
        if floor(previous_weight + current_count) > limit:
            # No other hit can have raced this one, but the float sum can still round over the limit;
            # limits' store then takes the hit back, and so do we, so that both answer alike.
            counter = self._counters[current_key]
            counter.count = max(counter.count - amount, 0)
            return False
        return True

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        """(previous count, seconds the previous window still overlaps, current count, seconds until the
        current counter expires)."""
        now = self._clock()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        return self._sliding_window(previous_key, current_key, expiry, now)

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        """Forget both of ``key``'s window counters."""
        previous_key, current_key = self.sliding_window_keys(key, expiry, self._clock())
        self._counters.pop(previous_key, None)
        self._counters.pop(current_key, None)

    # --- MovingWindowSupport ------------------------------------------------------------------------

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Record ``amount`` hits now if the last ``expiry`` seconds hold at most ``limit - amount``."""
        if amount > limit:
            return False
        now = self._clock()
        window = self._live_window(key, expiry, now)
        if window is not None and len(window.hit_times) > limit - amount:
            return False
        if amount <= 0:
            return True
        if window is None:
            self._before_new_key(now)
            window = self._windows[key] = _Window(expiry)
        window.hit_times.extend(repeat(now, amount))
        return True

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(time of the oldest hit inside the window, or now when there is none; hits inside it)."""
        now = self._clock()
        window = self._live_window(key, expiry, now)
        if window is None:
            return now, 0
        return window.hit_times[0], len(window.hit_times)

    # --- internals ----------------------------------------------------------------------------------

    def _add(self, key: str, expiry_s: float, amount: int, now: float) -> int:
        counter = self._counters.get(key)
        if counter is None:
            self._before_new_key(now)
            counter = self._counters[key] = _Counter()
        elif counter.expires_at <= now:
            counter.count = 0
        counter.count += amount
        if counter.count == amount:  # counting from zero again: a new window begins
            counter.expires_at = now + expiry_s
        return counter.count

    def _live_counter(self, key: str, now: float) -> _Counter | None:
        counter = self._counters.get(key)
        if counter is not None and counter.expires_at <= now:
            del self._counters[key]
            return None
        return counter

    def _sliding_window(
        self, previous_key: str, current_key: str, expiry: int, now: float
    ) -> tuple[int, float, int, float]:
        previous = self._live_counter(previous_key, now)
        current = self._live_counter(current_key, now)
        previous_count = 0 if previous is None else previous.count
        current_count = 0 if current is None else current.count
        # The same arithmetic as limits' memory store, so that both give the same weights to the bit.
        previous_ttl_s = 0.0 if previous_count == 0 else (1 - (((now - expiry) / expiry) % 1)) * expiry
        current_ttl_s = (1 - ((now / expiry) % 1)) * expiry + expiry
        return previous_count, previous_ttl_s, current_count, current_ttl_s

    def _live_window(self, key: str, expiry_s: float, now: float) -> _Window | None:
        """``key``'s window with the hits older than ``expiry_s`` dropped; ``None`` (and the key dropped)
        when none is left."""
        window = self._windows.get(key)
        if window is None:
            return None
        window.expiry_s = expiry_s
        hit_times = window.hit_times
        if hit_times[0] + expiry_s <= now:
            # A hit leaves the window when its time plus the window's length is past: the test limits'
            # store sweeps with.
            gone = bisect_right(hit_times, now, key=lambda hit_time: hit_time + expiry_s)
            if gone == len(hit_times):
                del self._windows[key]
                return None
            del hit_times[:gone]
        return window

    def _before_new_key(self, now: float) -> None:
        # Sweep when the interval has passed, or the clock went back (NTP) since the last sweep, or the
        # table has doubled: never more than once per interval at a steady number of keys.
        since_last_sweep_s = now - self._last_sweep_at
        if not 0 <= since_last_sweep_s < self._sweep_interval_s or self.keys_held >= self._sweep_at_keys:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        for key in [key for key, counter in self._counters.items() if counter.expires_at <= now]:
            del self._counters[key]
        for key in [key for key, window in self._windows.items() if _newest_expires_at(window) <= now]:
            del self._windows[key]
        self._last_sweep_at = now
        self._sweep_at_keys = max(2 * self.keys_held, _MIN_KEYS_BEFORE_SWEEP)


def _newest_expires_at(window: _Window) -> float:
    return window.hit_times[-1] + window.expiry_s
