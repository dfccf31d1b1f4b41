"""The edge's memory:// store (edge.ratelimit_memory): the answers of limits' MemoryStorage for every
strategy on random sequences, expiry when a key is read, the amortised sweep, and the wiring."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from unittest import mock

import limits.aio.storage.memory
import limits.aio.strategies
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import STRATEGIES as LIMITS_STRATEGIES
from limits.aio.strategies import RateLimiter

from edge.policy import RateLimitPolicy
from edge.ratelimit import EdgeRateLimiter, Limit, open_store
from edge.ratelimit_memory import MemoryRateLimitStorage
from edge.tunnel.errors import RateLimited

# limits' strategies by name, as constructors (its table is typed with the abstract base class).
STRATEGIES: dict[str, Callable[[Storage], RateLimiter]] = dict(LIMITS_STRATEGIES)

# Times are whole eighths of a second and windows whole seconds, so that every sum and difference of
# times is exact: a window boundary is then hit exactly, not a rounding error away.
EPOCH_S = 1_700_000_000.0
TICK_S = 1 / 8


class FakeClock:
    def __init__(self, now: float = EPOCH_S) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def limits_reading(clock: FakeClock) -> Iterator[None]:
    """limits' memory store and strategies read ``time.time()``; make them read ``clock``."""
    fake_time = SimpleNamespace(time=clock)
    with (
        mock.patch.object(limits.aio.storage.memory, "time", fake_time),
        mock.patch.object(limits.aio.strategies, "time", fake_time),
    ):
        yield


# --- the same answers as MemoryStorage ------------------------------------------------------------------

_items = st.lists(
    st.builds(RateLimitItemPerSecond, st.integers(1, 5), st.sampled_from([1, 2, 3, 5, 10])),
    min_size=1,
    max_size=3,
)
_identities = st.lists(st.text(max_size=6), min_size=1, max_size=3, unique=True)
# Hits most, resets seldom; time moves by a few ticks, by exactly one window (landing on expiries and
# window boundaries) or by a tick less.
_KINDS = (
    *("hit",) * 6,
    "test",
    *("stats",) * 2,
    "clear",
    *("advance",) * 3,
    "advance_window",
    "advance_under_window",
    "reset",
)
_COSTS = (0, 1, 1, 1, 2, 3)
# (kind, which limit and identity, ticks or an index into _COSTS)
_steps = st.lists(st.tuples(st.sampled_from(_KINDS), st.integers(0, 8), st.integers(0, 24)), max_size=50)

# A hit that limits' store counts and then takes back: at 8 s the previous 3-second window's 3 hits weigh
# 0.9999999999999997, not 1; with 3 in the current window the weighted count floors to 3, and 3 + 1 is
# within the limit of 4, but after the hit 0.9999999999999997 + 4 rounds to 5.0, over it.
_ROUNDED_OVER_THE_LIMIT = [
    ("hit", 0, 5),  # cost 3 at 3 s: the previous window's 3
    ("advance", 0, 38),
    ("hit", 0, 4),  # cost 2 at 7.75 s
    ("advance", 0, 1),
    ("hit", 0, 1),  # at 7.875 s: 3 in the current window
    ("advance", 0, 1),
    ("stats", 0, 0),
    ("hit", 0, 1),  # at 8 s: refused
    ("stats", 0, 0),
]


# Reads exactly when a 5-second limit's hit expires, and then when a 3-second limit's window ends.
_AT_EXPIRY = [
    ("hit", 0, 1),
    ("hit", 1, 1),
    ("advance_window", 0, 0),
    ("test", 0, 1),
    ("stats", 0, 0),
    ("advance", 0, 8),
    ("stats", 1, 0),
    ("hit", 1, 1),
    ("stats", 1, 0),
]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@settings(max_examples=200, deadline=None)
@example(
    items=[RateLimitItemPerSecond(4, 3)],
    identities=["1001"],
    epoch_s=0.0,
    start_ticks=24,
    steps=_ROUNDED_OVER_THE_LIMIT,
)
@example(
    items=[RateLimitItemPerSecond(2, 5), RateLimitItemPerSecond(2, 3)],
    identities=["1001"],
    epoch_s=EPOCH_S,
    start_ticks=0,
    steps=_AT_EXPIRY,
)
@given(
    items=_items,
    identities=_identities,
    epoch_s=st.sampled_from([EPOCH_S, 0.0]),
    start_ticks=st.integers(0, 1000),
    steps=_steps,
)
async def test_every_answer_is_memory_storages(
    strategy: str,
    items: list[RateLimitItem],
    identities: list[str],
    epoch_s: float,
    start_ticks: int,
    steps: list[tuple[str, int, int]],
) -> None:
    """Hits (costs 0-3), tests, window stats, clears and resets across a few limits and hostile
    identities, with time moving on, answered alike by both stores.

    MemoryStorage's answers depend on whether its background sweep has run since a hit expired: a moving
    window with only expired hits left reports the oldest of them as its start until the sweep removes
    them, and its reset() counts expired keys. Its sweep is therefore run to the end, at the current time,
    before each of its operations: its answers are then those of a store whose expiry is never late,
    which is what ours promises."""
    clock = FakeClock(epoch_s + start_ticks * TICK_S)
    reference = MemoryStorage()
    ours = MemoryRateLimitStorage(clock=clock, sweep_interval_s=2.0)
    expected_limiter = STRATEGIES[strategy](reference)
    our_limiter = STRATEGIES[strategy](ours)
    with limits_reading(clock):
        async with asyncio.timeout(10):
            for kind, which, number in steps:
                item, identity = items[which % len(items)], identities[which // 3 % len(identities)]
                if kind == "advance":
                    clock.advance(number * TICK_S)
                elif kind == "advance_window":
                    clock.advance(item.get_expiry())
                elif kind == "advance_under_window":
                    clock.advance(item.get_expiry() - TICK_S)
                else:
                    # One sweep at a time: MemoryStorage's sweeps fail when two overlap.
                    if reference.timer is not None:
                        await reference.timer
                    await reference._MemoryStorage__expire_events()  # type: ignore[attr-defined]
                    cost = _COSTS[number % len(_COSTS)]
                    expected = await _apply(expected_limiter, reference, kind, item, identity, cost)
                    answered = await _apply(our_limiter, ours, kind, item, identity, cost)
                    assert answered == expected, (kind, item, identity, cost, clock.now - epoch_s)
            if reference.timer is not None:
                await reference.timer


async def _apply(
    limiter: RateLimiter, storage: Storage, kind: str, item: RateLimitItem, identity: str, cost: int
) -> object:
    if kind == "hit":
        return await limiter.hit(item, "fingress", identity, cost=cost)
    if kind == "test":
        return await limiter.test(item, "fingress", identity, cost=cost)
    if kind == "stats":
        return tuple(await limiter.get_window_stats(item, "fingress", identity))
    if kind == "clear":
        await limiter.clear(item, "fingress", identity)
        return None
    return await storage.reset()


# --- expiry ---------------------------------------------------------------------------------------------


async def test_an_expired_counter_is_dropped_when_read() -> None:
    clock = FakeClock()
    store = MemoryRateLimitStorage(clock=clock)
    assert await store.incr("k", 10) == 1
    assert await store.incr("k", 10, amount=2) == 3
    assert await store.get_expiry("k") == EPOCH_S + 10
    clock.advance(9.5)
    assert await store.get("k") == 3
    clock.advance(0.5)
    assert await store.get("k") == 0
    assert store.keys_held == 0
    assert await store.get_expiry("k") == clock.now
    assert await store.incr("k", 10) == 1  # a new window from zero
    assert await store.get_expiry("k") == clock.now + 10


async def test_a_moving_window_forgets_hits_past_its_length_then_its_key() -> None:
    clock = FakeClock()
    store = MemoryRateLimitStorage(clock=clock)
    assert await store.acquire_entry("k", 3, 10, amount=2)
    clock.advance(5)
    assert await store.acquire_entry("k", 3, 10)
    assert not await store.acquire_entry("k", 3, 10)
    clock.advance(5)  # the first two hits are exactly one window old: out
    assert await store.get_moving_window("k", 3, 10) == (EPOCH_S + 5, 1)
    assert await store.acquire_entry("k", 3, 10, amount=2)
    assert not await store.acquire_entry("k", 3, 10)
    clock.advance(10)
    assert await store.get_moving_window("k", 3, 10) == (clock.now, 0)
    assert store.keys_held == 0


async def test_reset_forgets_everything_and_counts_the_live_keys() -> None:
    clock = FakeClock()
    store = MemoryRateLimitStorage(clock=clock)
    await store.incr("short", 1)
    await store.incr("long", 60)
    assert await store.acquire_entry("window", 5, 60)
    clock.advance(1)
    assert await store.reset() == 2
    assert store.keys_held == 0
    assert await store.get("long") == 0
    assert await store.get_moving_window("window", 5, 60) == (clock.now, 0)


# --- the sweep ------------------------------------------------------------------------------------------


async def _expired_keys(store: MemoryRateLimitStorage, clock: FakeClock, count: int) -> None:
    """``count`` counters that expire within a second, and the clock moved past them."""
    for index in range(count):
        await store.incr(f"old-{index}", 1)
    assert await store.acquire_entry("old-window", 5, 1)
    clock.advance(1)


async def test_expired_keys_nobody_reads_wait_for_the_sweep_interval_not_the_next_hit() -> None:
    clock = FakeClock()
    store = MemoryRateLimitStorage(clock=clock, sweep_interval_s=5)
    await _expired_keys(store, clock, 10)
    for index in range(20):  # hits on new keys inside the interval: no sweep
        await store.incr(f"new-{index}", 60)
        assert await store.acquire_entry(f"new-window-{index}", 5, 60)
    assert store.keys_held == 11 + 40
    clock.advance(4)  # the interval has passed since the store began
    await store.incr("one-more", 60)
    assert store.keys_held == 40 + 1
    assert await store.get("new-0") == 1  # live keys stay


async def test_the_sweep_runs_early_when_the_keys_doubled_and_the_threshold_then_doubles() -> None:
    clock = FakeClock()
    store = MemoryRateLimitStorage(clock=clock, sweep_interval_s=3600)
    await _expired_keys(store, clock, 1023)  # 1,024 keys: the smallest table swept early
    await store.incr("live-0", 3600)
    assert store.keys_held == 1
    for index in range(1, 1024):
        await store.incr(f"live-{index}", 3600)
    await store.incr("live-1024", 3600)  # 1,024 live keys swept, none dropped: next time at 2,048
    assert store.keys_held == 1025
    for index in range(1025, 2048):
        await store.incr(f"live-{index}", 1)
    clock.advance(1)
    assert store.keys_held == 2048
    await store.incr("live-2048", 3600)  # the 1,023 that just expired go
    assert store.keys_held == 1026


async def test_after_the_clock_went_back_sweeps_follow_the_new_time() -> None:
    clock = FakeClock()
    store = MemoryRateLimitStorage(clock=clock, sweep_interval_s=10)
    clock.advance(100)
    await store.incr("swept-at-100", 3600)
    clock.advance(-100)  # NTP steps the clock back
    await _expired_keys(store, clock, 3)
    clock.advance(10)  # one interval after the keys, still long before the last sweep's time
    await store.incr("new", 3600)
    assert store.keys_held == 2


@pytest.mark.parametrize("strategy", ["fixed-window", "sliding-window-counter"])
async def test_counted_hits_on_the_same_keys_hold_no_more_memory(strategy: str) -> None:
    clock = FakeClock()
    store = MemoryRateLimitStorage(clock=clock)
    limiter = STRATEGIES[strategy](store)
    item = RateLimitItemPerSecond(1_000_000, 60)
    identities = [f"agent-{index}" for index in range(100)]
    with limits_reading(clock):
        for identity in identities:
            assert await limiter.hit(item, identity)
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            for _ in range(50):
                for identity in identities:
                    assert await limiter.hit(item, identity)
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    not_tracemalloc = [tracemalloc.Filter(inclusive=False, filename_pattern=tracemalloc.__file__)]
    grown_bytes = sum(
        stat.size_diff
        for stat in after.filter_traces(not_tracemalloc).compare_to(
            before.filter_traces(not_tracemalloc), "filename"
        )
    )
    # 5,000 hits: anything kept per hit would be tens of KiB; Python's own caches may keep a few bytes.
    assert grown_bytes < 1024
    assert store.keys_held == 100


# --- wiring ---------------------------------------------------------------------------------------------


def test_memory_uri_builds_this_store() -> None:
    assert isinstance(open_store(RateLimitPolicy(storage_uri="memory://")).storage, MemoryRateLimitStorage)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
async def test_the_edge_limiter_on_this_store_refuses_past_the_limit_with_a_retry_time(strategy: str) -> None:
    policy = RateLimitPolicy(strategy=strategy, per_agent="2/minute")
    limiter = EdgeRateLimiter(policy=policy, storage=open_store(policy).storage)
    await limiter.check(Limit.PER_AGENT, "1001")
    await limiter.check(Limit.PER_AGENT, "1001")
    with pytest.raises(RateLimited) as refused:
        await limiter.check(Limit.PER_AGENT, "1001")
    assert refused.value.code == "rate_limited"
    assert 1 <= refused.value.extra["retry_after_s"] <= 60
    await limiter.check(Limit.PER_AGENT, "2002")  # another agent's budget
