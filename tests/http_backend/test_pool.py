"""ConnectionPool keeps its promises on random sequences of requests, openings, releases, failures,
cancellations, idle connections going stale and time passing (Hypothesis, against a model of who should
hold what): never more slots than the limit, waiters served first come first served, the most recently
used idle connection reused, nothing stale or expired handed out, and no slot or connection leaked after
cancellations. Then each promise on its own, by example."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.finesse.http_pool import ConnectionPool

ORIGINS = ("a", "b")
EXPIRY_S = 10.0


@dataclass(eq=False)
class FakeConnection:
    """What the pool asks of a connection, answered from flags (a seam we own)."""

    ident: int
    origin: str
    stale: bool = False
    closed: bool = False

    @property
    def is_stale(self) -> bool:
        return self.stale

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Model:
    """What the pool should have done: who waits in which order, which idle connections exist (with
    when they turned idle), who holds what."""

    waiting: deque[int] = field(default_factory=deque)  # request ids, in arrival order
    idle: dict[FakeConnection, float] = field(default_factory=dict)
    holders: dict[int, FakeConnection | None] = field(default_factory=dict)  # None: an empty slot
    connections: list[FakeConnection] = field(default_factory=list)


class Harness:
    """Drives one pool on a private event loop, step by step, and checks it against the model."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, limit: int, idle_limit: int) -> None:
        self.loop = loop
        self.clock = Clock()
        self.pool: ConnectionPool[FakeConnection] = ConnectionPool(
            max_connections=limit,
            max_idle_connections=idle_limit,
            keepalive_expiry_s=EXPIRY_S,
            clock=self.clock,
        )
        self.limit, self.idle_limit = limit, idle_limit
        self.model = Model()
        self.tasks: dict[int, asyncio.Task[FakeConnection | None]] = {}
        self.origins: dict[int, str] = {}
        self.granted: set[int] = set()  # requests whose grant the harness has taken
        self._ids = itertools.count()

    def settle(self) -> None:
        async def turns() -> None:
            for _ in range(4):
                await asyncio.sleep(0)

        self.loop.run_until_complete(turns())

    # --- steps ---------------------------------------------------------------------------------------

    def request(self, origin: str) -> None:
        model, pool = self.model, self.pool
        expect_wait = bool(model.waiting) or (pool.held == self.limit and pool.idle == 0)
        # The connection it should reuse: the most recently used idle one of its origin that is neither
        # stale nor expired (expired ones are retired first, stale ones closed on the way).
        usable = [
            (since, connection)
            for connection, since in model.idle.items()
            if connection.origin == origin and not connection.stale and self.clock.now - since <= EXPIRY_S
        ]
        # (Sorting is stable: of connections idle since the same moment, the one given back last wins.)
        expected = sorted(usable, key=lambda pair: pair[0])[-1][1] if usable and not expect_wait else None
        # Without one, at the limit once the expired and its origin's stale ones are closed, the oldest
        # idle connection of another origin gives way (any of them, when several turned idle together).
        expired = [c for c, since in model.idle.items() if self.clock.now - since > EXPIRY_S]
        own = [c for c in model.idle if c.origin == origin and c not in expired]
        others = {c: since for c, since in model.idle.items() if c.origin != origin and c not in expired}
        evicted: list[FakeConnection] = []
        if not expect_wait and expected is None and pool.held - len(expired) - len(own) == self.limit:
            evicted = [c for c, since in others.items() if since == min(others.values())]
        rid = next(self._ids)
        self.origins[rid] = origin
        self.tasks[rid] = self.loop.create_task(pool.acquire(origin))
        self.settle()
        task = self.tasks[rid]
        if expect_wait:
            assert not task.done()
            model.waiting.append(rid)
            return
        assert task.done()
        grant = self._take(rid)
        assert grant is expected
        closed_others = [c for c in others if c.closed]
        assert len(closed_others) == (1 if evicted else 0)
        assert set(closed_others) <= set(evicted)

    def open(self, k: int) -> None:
        empty = [rid for rid, held in self.model.holders.items() if held is None]
        if not empty:
            return
        rid = empty[k % len(empty)]
        connection = FakeConnection(len(self.model.connections), self.origins[rid])
        self.model.connections.append(connection)
        self.model.holders[rid] = connection
        self.pool.opened(connection)

    def fail_to_open(self, k: int) -> None:
        empty = [rid for rid, held in self.model.holders.items() if held is None]
        if not empty:
            return
        del self.model.holders[empty[k % len(empty)]]
        self.pool.abandon()
        self.settle()
        self._collect_grants()

    def release(
        self, k: int, reusable: bool, *, cancel_next: bool = False, cancel_first: bool = False
    ) -> None:
        holding = [rid for rid, held in self.model.holders.items() if held is not None]
        if not holding:
            return
        rid = holding[k % len(holding)]
        connection = self.model.holders.pop(rid)
        assert connection is not None
        # Given back with nobody waiting, it stays idle unless the pool holds more than the idle limit.
        expect_closed = not reusable or (not self.model.waiting and self.pool.held > self.idle_limit)
        if cancel_first and self.model.waiting:
            # Cancelled, its task not yet run to leave the queue, when the slot frees: skipped.
            self.tasks[self.model.waiting[0]].cancel()
        self.pool.release(connection, reusable=reusable)
        if expect_closed:
            assert connection.closed
        if reusable and not connection.closed:
            self.model.idle[connection] = self.clock.now  # unless a waiter took it (collected below)
        if cancel_next and self.model.waiting:
            # Granted and cancelled before its task ran again: the grant must go to the next in line.
            self.tasks[self.model.waiting[0]].cancel()
        self.settle()
        self._collect_grants()

    def cancel(self, k: int) -> None:
        if not self.model.waiting:
            return
        rid = self.model.waiting[k % len(self.model.waiting)]
        self.tasks[rid].cancel()
        self.settle()
        self._collect_grants()

    def go_stale(self, k: int) -> None:
        idle = list(self.model.idle)
        if idle:
            idle[k % len(idle)].stale = True

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds

    # --- bookkeeping and checks ------------------------------------------------------------------------

    def _take(self, rid: int) -> FakeConnection | None:
        grant = self.tasks[rid].result()
        self.granted.add(rid)
        if grant is not None:
            assert (grant.closed, grant.stale) == (False, False)
            since = self.model.idle.pop(grant, None)
            if since is not None:  # reused from idle: never an expired one
                assert self.clock.now - since <= EXPIRY_S
            assert grant.origin == self.origins[rid]
            assert grant not in self.model.holders.values()
        self.model.holders[rid] = grant
        return grant

    def _collect_grants(self) -> None:
        """Waiters whose task finished: granted ones must be the first of the queue, in order."""
        waiting = self.model.waiting
        finished = [rid for rid in waiting if self.tasks[rid].done()]
        cancelled = [rid for rid in finished if self.tasks[rid].cancelled()]
        granted = [rid for rid in finished if not self.tasks[rid].cancelled()]
        survivors = [rid for rid in waiting if rid not in cancelled]
        assert granted == survivors[: len(granted)], "a later waiter was served before an earlier one"
        for rid in granted:
            grant = self._take(rid)
            assert grant is None or grant.origin == self.origins[rid]
        self.model.waiting = deque(rid for rid in survivors if rid not in granted)
        # A connection given back may have gone straight to a waiter, or been closed (limit, origin).
        for connection in [c for c in self.model.idle if c.closed]:
            del self.model.idle[connection]

    def check(self) -> None:
        pool, model = self.pool, self.model
        for connection in [c for c in model.idle if c.closed]:
            del model.idle[connection]  # retired (expired, stale, evicted)
        in_use = sum(1 for held in model.holders.values() if held is not None)
        opening = sum(1 for held in model.holders.values() if held is None)
        assert (pool.in_use, pool.opening, pool.waiting) == (in_use, opening, len(model.waiting))
        assert set(pool.idle_connections()) == set(model.idle)
        assert pool.held == pool.idle + in_use + opening <= self.limit
        if model.waiting:
            assert (pool.held, pool.idle) == (self.limit, 0), "a request waits while a slot is free"
        for connection in model.connections:  # every connection is held, idle, or closed: none leaked
            held = connection in model.holders.values()
            assert held + (connection in model.idle) + connection.closed == 1

    def drain(self) -> None:
        """Cancel every waiter, give every slot back: the pool must be whole again."""
        for rid in list(self.model.waiting):
            self.tasks[rid].cancel()
        self.settle()
        self._collect_grants()
        for rid, held in list(self.model.holders.items()):
            del self.model.holders[rid]
            if held is None:
                self.pool.abandon()
            else:
                self.pool.release(held, reusable=True)
                if not held.closed:
                    self.model.idle[held] = self.clock.now
        self.settle()
        self.check()
        assert (self.pool.held, self.pool.waiting) == (self.pool.idle, 0)
        # Every slot can be had again at once.
        holders = [self.loop.create_task(self.pool.acquire(origin)) for origin in ORIGINS * self.limit]
        self.settle()
        assert sum(task.done() for task in holders) == self.limit
        self.pool.close()
        self.settle()
        assert all(connection.closed for connection in self.model.connections)
        assert all(task.done() for task in holders)
        failed = [task.exception() for task in holders if task.exception() is not None]
        assert len(failed) == len(holders) - self.limit
        assert all(isinstance(exc, httpx.ConnectError) for exc in failed)


# Requests, openings and releases more often than the rest, so that sequences fill the pool, queue
# requests and keep several connections idle at once.
KINDS = (
    *("request",) * 2,
    *("open",) * 2,
    *("release",) * 2,
    "release_and_cancel_next",
    "cancel_and_release",
    "fail_to_open",
    "cancel",
    "go_stale",
    "advance",
)
_steps = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 7), st.booleans()), min_size=10, max_size=80
)


@settings(max_examples=500, deadline=None)
@given(steps=_steps, limit=st.integers(1, 4), idle_margin=st.integers(-2, 0))
def test_the_pool_keeps_its_promises_on_random_sequences(
    steps: list[tuple[str, int, bool]], limit: int, idle_margin: int
) -> None:
    loop = asyncio.new_event_loop()
    try:
        harness = Harness(loop, limit=limit, idle_limit=max(0, limit + idle_margin))
        for kind, k, flag in steps:
            if kind == "request":
                harness.request(ORIGINS[k % len(ORIGINS)])
            elif kind == "open":
                harness.open(k)
            elif kind == "fail_to_open":
                harness.fail_to_open(k)
            elif kind in ("release", "release_and_cancel_next", "cancel_and_release"):
                harness.release(
                    k,
                    flag,
                    cancel_next=kind == "release_and_cancel_next",
                    cancel_first=kind == "cancel_and_release",
                )
            elif kind == "cancel":
                harness.cancel(k)
            elif kind == "go_stale":
                harness.go_stale(k)
            else:
                harness.advance((1.0, 6.0, 11.0)[k % 3])
            harness.check()
        harness.drain()
    finally:
        loop.close()


# --- by example ---------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock()


def pool_of(clock: Clock, *, limit: int = 2, idle_limit: int | None = None) -> ConnectionPool[FakeConnection]:
    return ConnectionPool(
        max_connections=limit,
        max_idle_connections=limit if idle_limit is None else idle_limit,
        keepalive_expiry_s=EXPIRY_S,
        clock=clock,
    )


def connections(origin: str = "a") -> Iterator[FakeConnection]:
    return (FakeConnection(n, origin) for n in itertools.count())


async def open_one(pool: ConnectionPool[FakeConnection], made: Iterator[FakeConnection]) -> FakeConnection:
    assert await pool.acquire("a") is None
    connection = next(made)
    pool.opened(connection)
    return connection


async def test_the_most_recently_used_idle_connection_is_reused_first(clock: Clock) -> None:
    pool, made = pool_of(clock), connections()
    first, second = await open_one(pool, made), await open_one(pool, made)
    pool.release(first, reusable=True)
    clock.now += 1
    pool.release(second, reusable=True)
    assert await pool.acquire("a") is second
    assert await pool.acquire("a") is first


async def test_an_idle_connection_past_its_expiry_is_closed_not_reused(clock: Clock) -> None:
    pool, made = pool_of(clock), connections()
    old = await open_one(pool, made)
    pool.release(old, reusable=True)
    clock.now += EXPIRY_S + 0.1
    assert await pool.acquire("b") is None  # any request retires the expired connections
    assert (old.closed, pool.idle, pool.held) == (True, 0, 1)


async def test_an_idle_connection_on_which_anything_arrived_is_closed_not_reused(clock: Clock) -> None:
    pool, made = pool_of(clock), connections()
    closed_by_server = await open_one(pool, made)
    pool.release(closed_by_server, reusable=True)
    closed_by_server.stale = True
    assert await pool.acquire("a") is None
    assert (closed_by_server.closed, pool.held) == (True, 1)


async def test_at_the_limit_the_oldest_idle_connection_of_another_origin_gives_way(clock: Clock) -> None:
    pool, made = pool_of(clock), connections()
    older, newer = await open_one(pool, made), await open_one(pool, made)
    pool.release(older, reusable=True)
    pool.release(newer, reusable=True)
    assert await pool.acquire("b") is None
    assert (older.closed, newer.closed, pool.held) == (True, False, 2)


async def test_a_connection_turning_idle_beyond_the_idle_limit_is_closed(clock: Clock) -> None:
    pool, made = pool_of(clock, limit=3, idle_limit=1), connections()
    held = [await open_one(pool, made) for _ in range(3)]
    for connection in held:
        pool.release(connection, reusable=True)
    assert [c.closed for c in held] == [True, True, False]
    assert (pool.held, pool.idle) == (1, 1)


async def test_a_waiter_gets_the_connection_of_its_origin_or_an_empty_slot(clock: Clock) -> None:
    pool, made = pool_of(clock, limit=1), connections()
    only = await open_one(pool, made)
    same = asyncio.ensure_future(pool.acquire("a"))
    other = asyncio.ensure_future(pool.acquire("b"))
    await asyncio.sleep(0)
    pool.release(only, reusable=True)
    assert await same is only
    pool.release(only, reusable=True)
    assert await other is None  # another origin: the connection closed, its slot handed over
    assert (only.closed, pool.held) == (True, 1)


async def test_waiting_longer_than_the_pool_timeout_is_httpx_pool_timeout(clock: Clock) -> None:
    pool, made = pool_of(clock, limit=1), connections()
    busy = await open_one(pool, made)
    async with asyncio.timeout(5):
        with pytest.raises(httpx.PoolTimeout):
            await pool.acquire("a", timeout_s=0.01)
    assert pool.waiting == 0
    pool.release(busy, reusable=True)
    assert await pool.acquire("a", timeout_s=0.01) is busy  # a free slot costs no wait, no timer


async def test_closing_fails_waiters_closes_every_connection_and_refuses_requests(clock: Clock) -> None:
    pool, made = pool_of(clock), connections()
    idle, busy = await open_one(pool, made), await open_one(pool, made)
    pool.release(idle, reusable=True)
    assert await pool.acquire("a") is idle
    waiter = asyncio.ensure_future(pool.acquire("a"))
    await asyncio.sleep(0)
    pool.close()
    with pytest.raises(httpx.ConnectError, match="closed"):
        await waiter
    assert (idle.closed, busy.closed) == (True, True)
    with pytest.raises(httpx.ConnectError, match="closed"):
        await pool.acquire("a")
    pool.release(busy, reusable=True)  # an exchange ending after the close: nothing to give back
    assert (pool.held, pool.idle, pool.in_use) == (0, 0, 0)


@pytest.mark.parametrize(
    "settings_",
    [
        {"max_connections": 0, "max_idle_connections": 0, "keepalive_expiry_s": 1.0},
        {"max_connections": 1, "max_idle_connections": -1, "keepalive_expiry_s": 1.0},
        {"max_connections": 1, "max_idle_connections": 1, "keepalive_expiry_s": -1.0},
    ],
)
def test_impossible_settings_are_refused(settings_: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        ConnectionPool(**settings_)  # type: ignore[arg-type]
