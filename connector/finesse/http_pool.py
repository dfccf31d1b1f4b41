"""Who holds which keep-alive connection: the slot accounting of one HTTP transport, all origins together.

The pool opens nothing and speaks no protocol. :meth:`ConnectionPool.acquire` answers with an idle
connection to reuse, or ``None``: a slot is the caller's, to open a connection in (then
:meth:`~ConnectionPool.opened`, or :meth:`~ConnectionPool.abandon` when opening failed). Every acquired
slot goes back exactly once, with :meth:`~ConnectionPool.release` (the connection, reusable or not) or
:meth:`~ConnectionPool.abandon` (no connection).

What it promises:

* At most ``max_connections`` slots are held at once; an idle connection, a connection in use and one
  being opened each hold one.
* A request that finds no slot waits in one first-in, first-out queue over all origins. A freed slot goes
  to the longest waiter at once: with its connection when that is reusable and to the waiter's origin,
  else empty (the connection closed). So nobody waits while a slot is free or a connection idle.
* Idle connections are reused most recently used first. The connection used last is the one the server
  is least likely to be closing at that moment (servers time idle connections out from their last
  request), and under a light load the others stay idle long enough to be retired instead of being
  kept alive in turn.
* An idle connection is closed instead of reused once idle for longer than ``keepalive_expiry_s``, or
  when anything arrived on it (data, the end, an error: the server closed or broke it). Expired
  connections of every origin are retired whenever a request arrives.
* A connection that turns idle while the pool holds more than ``max_idle_connections`` is closed.
* At the limit, a request for an origin without an idle connection closes the oldest idle connection
  of another origin and takes its slot.
* After :meth:`~ConnectionPool.close` every connection is closed, waiters fail, and acquiring fails.

Waiting is the only thing that costs a timer (``timeout_s``, :class:`httpx.PoolTimeout`); everything
else is a few list operations. A pool serves one event loop at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

import httpx

TRANSPORT_CLOSED = "the HTTP transport is closed"


class PooledConnection(Protocol):
    """What the pool asks of a connection."""

    @property
    def origin(self) -> Hashable:
        """Requests for this origin may use the connection."""

    @property
    def is_stale(self) -> bool:
        """Anything arrived while the connection was idle: the server closed or broke it."""

    def close(self) -> None:
        """Close the connection now (idempotent)."""


C = TypeVar("C", bound=PooledConnection)


class _Waiter(Generic[C]):
    """A request waiting for a slot: resolved with an idle connection or ``None`` (an empty slot)."""

    __slots__ = ("future", "origin", "timer")

    def __init__(self, origin: Hashable, future: asyncio.Future[C | None]) -> None:
        self.origin = origin
        self.future = future
        self.timer: asyncio.TimerHandle | None = None


class ConnectionPool(Generic[C]):
    """The slots of one transport; see the module docstring for what it promises."""

    def __init__(
        self,
        *,
        max_connections: int,
        max_idle_connections: int,
        keepalive_expiry_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if max_idle_connections < 0:
            raise ValueError("max_idle_connections must not be negative")
        if keepalive_expiry_s < 0:
            raise ValueError("keepalive_expiry_s must not be negative")
        self.max_connections = max_connections
        self.max_idle_connections = max_idle_connections
        self.keepalive_expiry_s = keepalive_expiry_s
        self._clock = clock
        self._held = 0
        # Per origin, oldest first: (when it turned idle, connection). Reuse pops from the right (the most
        # recently used), expiry from the left.
        self._idle: dict[Hashable, deque[tuple[float, C]]] = {}
        self._idle_count = 0
        self._in_use: set[C] = set()
        self._opening = 0
        self._waiters: deque[_Waiter[C]] = deque()
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"ConnectionPool(held={self._held}/{self.max_connections}, idle={self._idle_count}, "
            f"in_use={len(self._in_use)}, opening={self._opening}, waiting={len(self._waiters)})"
        )

    # --- what the pool holds (for tests, benchmarks and metrics) --------------------------------------

    @property
    def held(self) -> int:
        """Slots held: idle connections, connections in use, connections being opened."""
        return self._held

    @property
    def idle(self) -> int:
        return self._idle_count

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    @property
    def opening(self) -> int:
        return self._opening

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def closed(self) -> bool:
        return self._closed

    def idle_connections(self) -> list[C]:
        """The idle connections, each origin's oldest first."""
        return [connection for queue in self._idle.values() for _, connection in queue]

    # --- taking a slot -----------------------------------------------------------------------------------

    async def acquire(self, origin: Hashable, *, timeout_s: float | None = None) -> C | None:
        """An idle connection to ``origin`` (now in use), or ``None``: an empty slot to open one in.

        Waits (first come, first served) while every slot is held; raises :class:`httpx.PoolTimeout`
        after ``timeout_s`` of waiting, :class:`httpx.ConnectError` once the pool is closed. Cancelled
        while waiting, it gives back whatever it had been granted."""
        if self._closed:
            raise httpx.ConnectError(TRANSPORT_CLOSED)
        if self._idle_count:
            self._retire_expired(self._clock())
            connection = self._take_idle(origin)
            if connection is not None:
                self._in_use.add(connection)
                return connection
        if not self._waiters:
            if self._held < self.max_connections:
                self._held += 1
                self._opening += 1
                return None
            if self._idle_count:
                self._evict_oldest_idle()
                self._opening += 1
                return None
        return await self._wait(origin, timeout_s)

    async def _wait(self, origin: Hashable, timeout_s: float | None) -> C | None:
        loop = asyncio.get_running_loop()
        waiter: _Waiter[C] = _Waiter(origin, loop.create_future())
        self._waiters.append(waiter)
        if timeout_s is not None:
            waiter.timer = loop.call_later(max(timeout_s, 0.0), self._time_out, waiter)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            future = waiter.future
            if future.done() and not future.cancelled() and future.exception() is None:
                # Granted, then cancelled before this task resumed: the grant goes to the next in line.
                self._give_back(future.result())
            else:
                self._remove_waiter(waiter)
            raise
        finally:
            if waiter.timer is not None:
                waiter.timer.cancel()

    def _time_out(self, waiter: _Waiter[C]) -> None:
        if not waiter.future.done():
            self._remove_waiter(waiter)
            waiter.future.set_exception(httpx.PoolTimeout("no connection became free in time"))

    def _remove_waiter(self, waiter: _Waiter[C]) -> None:
        with contextlib.suppress(ValueError):  # already handed a grant, or failed by close()
            self._waiters.remove(waiter)

    def _give_back(self, grant: C | None) -> None:
        if grant is None:
            self.abandon()
        else:
            self.release(grant, reusable=True)

    def opened(self, connection: C) -> None:
        """The caller opened ``connection`` in the empty slot it acquired."""
        if self._closed:
            connection.close()
            return
        self._opening -= 1
        self._in_use.add(connection)

    # --- giving a slot back ----------------------------------------------------------------------------

    def release(self, connection: C, *, reusable: bool) -> None:
        """Give back ``connection``: kept for the next request when ``reusable`` (its exchange ended
        cleanly), else closed. Releasing a connection the pool no longer holds (closed meanwhile) only
        closes it."""
        if connection not in self._in_use:
            connection.close()
            return
        self._in_use.remove(connection)
        if not reusable:
            connection.close()
            self._free(None)
        else:
            self._free(connection)

    def abandon(self) -> None:
        """Give back an empty slot (opening a connection failed or was cancelled)."""
        if self._closed:
            return
        self._opening -= 1
        self._free(None)

    def _free(self, connection: C | None) -> None:
        """A slot is free, with ``connection`` when that may be reused: to the first waiter, else kept
        idle, else let go."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.future.done():
                continue  # cancelled, its task not yet back to take itself out of the queue
            if connection is not None and waiter.origin != connection.origin:
                connection.close()
                connection = None
            if connection is None:
                self._opening += 1
            else:
                self._in_use.add(connection)
            waiter.future.set_result(connection)
            return
        if connection is None:
            self._held -= 1
        elif self._held > self.max_idle_connections:
            connection.close()
            self._held -= 1
        else:
            queue = self._idle.get(connection.origin)
            if queue is None:
                queue = self._idle[connection.origin] = deque()
            queue.append((self._clock(), connection))
            self._idle_count += 1

    # --- idle connections ------------------------------------------------------------------------------

    def _take_idle(self, origin: Hashable) -> C | None:
        queue = self._idle.get(origin)
        while queue:
            _, connection = queue.pop()
            self._idle_count -= 1
            if not connection.is_stale:
                return connection
            connection.close()
            self._held -= 1
        return None

    def _retire_expired(self, now: float) -> None:
        oldest_allowed = now - self.keepalive_expiry_s
        for queue in self._idle.values():
            while queue and queue[0][0] < oldest_allowed:
                _, connection = queue.popleft()
                connection.close()
                self._idle_count -= 1
                self._held -= 1

    def _evict_oldest_idle(self) -> None:
        """Close the connection idle the longest; its slot stays held (for the caller)."""
        oldest = min((queue for queue in self._idle.values() if queue), key=lambda queue: queue[0][0])
        _, connection = oldest.popleft()
        connection.close()
        self._idle_count -= 1

    # --- the end -----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection, idle or in use; fail every waiter; refuse new requests."""
        self._closed = True
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(httpx.ConnectError(TRANSPORT_CLOSED))
        for connection in self.idle_connections():
            connection.close()
        self._idle.clear()
        in_use, self._in_use = self._in_use, set()
        for connection in in_use:
            connection.close()
        self._held = self._idle_count = self._opening = 0
