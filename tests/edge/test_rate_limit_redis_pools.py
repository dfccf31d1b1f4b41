"""The edge closes the Redis connections of its rate-limit store: when it stops, and when a reload replaces
the store (once the requests still counting on the old one are done with it). Every assertion about open
connections is made on the Redis side (``CLIENT LIST``), through a separate client on database 15; the
stores under test use databases 0 and 1, so ``db=`` tells whose connection is whose."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager

import pytest
from limits.aio.storage import RedisStorage
from redis.asyncio import Redis
from redis.exceptions import RedisError
from structlog.testing import capture_logs

from edge.policy import RateLimitPolicy
from edge.ratelimit import RateLimitStore, RetirablePool, open_store
from tests.edge.conftest import Edge, EdgeFactory
from tests.edge.redis_server import redis_server
from tests.support.timing import seconds

pytestmark = pytest.mark.redis

_ADMIN_DB = 15


@asynccontextmanager
async def redis_with_admin() -> AsyncIterator[tuple[str, Redis]]:
    """A fresh Redis: its ``redis://host:port`` (no database) and a client of its own to watch it."""
    async with redis_server() as url:
        base = url.rsplit("/", 1)[0]
        async with Redis.from_url(f"{base}/{_ADMIN_DB}", decode_responses=True) as admin:
            yield base, admin


@asynccontextmanager
async def store_on_redis(**options: int) -> AsyncIterator[tuple[Redis, RateLimitStore]]:
    """A fresh Redis, its admin client, and a store on its database 0 (``options``: the policy's), closed
    after the test."""
    async with (
        redis_with_admin() as (base, admin),
        aclosing(open_store(RateLimitPolicy(storage_uri=f"{base}/0", **options))) as store,
    ):
        yield admin, store


async def clients(admin: Redis, db: int) -> list[dict[str, str]]:
    """The connections Redis holds open on database ``db``."""
    return [client for client in await admin.client_list() if client["db"] == str(db)]


async def until(admin: Redis, db: int, wanted: Callable[[list[dict[str, str]]], bool]) -> None:
    """Waits until the connections on ``db`` satisfy ``wanted``: a close or a blocked command is seen by
    Redis a moment after the client's side of it, with no event to wait for."""
    async with asyncio.timeout(seconds(5)):
        while not wanted(await clients(admin, db)):
            await asyncio.sleep(0.01)


def no_connection(found: list[dict[str, str]]) -> bool:
    return not found


def a_command_blocked(found: list[dict[str, str]]) -> bool:
    return any("b" in client["flags"] for client in found)


@asynccontextmanager
async def writes_paused(admin: Redis) -> AsyncIterator[None]:
    """Redis holds every write (the stores' scripts included) until the block ends: commands in flight."""
    await admin.client_pause(int(seconds(10) * 1000), all=False)
    try:
        yield
    finally:
        await admin.client_unpause()


# The edge


async def test_stopping_the_edge_closes_its_redis_connections(make_edge: EdgeFactory) -> None:
    async with redis_with_admin() as (base, admin):
        edge: Edge = await make_edge(rate_limits={"storage_uri": f"{base}/0"})
        async with asyncio.timeout(seconds(10)):
            responses = await asyncio.gather(
                *(edge.client.get("/api/v1/agent", headers=edge.auth(agent)) for agent in ("1", "2", "3"))
            )
            assert [response.status_code for response in responses] == [200, 200, 200]
            assert await clients(admin, 0)
            await edge.client.aclose()
            await edge.server.stop()
        await until(admin, 0, no_connection)


async def test_a_reload_to_another_store_closes_the_old_connections_once_requests_are_done_with_them(
    make_edge: EdgeFactory,
) -> None:
    async with redis_with_admin() as (base, admin):
        edge: Edge = await make_edge(rate_limits={"storage_uri": f"{base}/0"})
        async with asyncio.timeout(seconds(10)):
            assert (await edge.client.get("/api/v1/agent", headers=edge.auth())).status_code == 200
            async with writes_paused(admin):
                # Pinned to the old snapshot, and stopped at Redis in the middle of its rate-limit check.
                in_flight = asyncio.create_task(edge.client.get("/api/v1/agent", headers=edge.auth()))
                await until(admin, 0, a_command_blocked)
                edge.write_policy(rate_limits={"storage_uri": f"{base}/1"})
                assert (await edge.admin.post("/reload")).json()["applied"]
                assert not in_flight.done()
                assert await clients(admin, 0)  # not cut off mid-command
            assert (await in_flight).status_code == 200
            await until(admin, 0, no_connection)
            assert (await edge.client.get("/api/v1/agent", headers=edge.auth())).status_code == 200
            assert await clients(admin, 1)


async def test_a_reload_with_the_same_store_keeps_its_connections_and_counters(
    make_edge: EdgeFactory,
) -> None:
    async with redis_with_admin() as (base, admin):
        limits = {"storage_uri": f"{base}/0", "per_agent": "3/minute"}
        edge: Edge = await make_edge(rate_limits=limits)
        async with asyncio.timeout(seconds(10)):
            for _ in range(2):
                assert (await edge.client.get("/api/v1/agent", headers=edge.auth())).status_code == 200
            before = {client["id"] for client in await clients(admin, 0)}
            assert before
            edge.write_policy(rate_limits=limits, events={"heartbeat_s": 10})
            assert (await edge.admin.post("/reload")).json()["applied"]
            statuses = [
                (await edge.client.get("/api/v1/agent", headers=edge.auth())).status_code for _ in range(2)
            ]
            assert statuses == [200, 429]
            assert {client["id"] for client in await clients(admin, 0)} == before


# The store on its own


async def test_commands_in_flight_across_a_retirement_complete_once_then_every_connection_closes() -> None:
    async with store_on_redis(redis_max_connections=4) as (admin, store):
        async with asyncio.timeout(seconds(10)):
            async with writes_paused(admin):
                # More commands than connections: some hold one at Redis, the rest wait for one.
                hits = [asyncio.create_task(store.storage.incr("hits", 60)) for _ in range(20)]
                await until(admin, 0, a_command_blocked)
                store.retire()
                assert await clients(admin, 0)
            counts = await asyncio.gather(*hits)
            # Each ran exactly once: none was cut off and retried.
            assert sorted(counts) == list(range(1, 21))
            await until(admin, 0, no_connection)


async def test_a_retired_store_still_counts_a_late_request_and_closes_its_connection_again() -> None:
    async with store_on_redis() as (admin, store):
        async with asyncio.timeout(seconds(10)):
            assert await store.storage.incr("late", 60) == 1
            store.retire()
            await until(admin, 0, no_connection)
            assert await store.storage.incr("late", 60) == 2
            await until(admin, 0, no_connection)


async def test_commands_arriving_while_a_retired_store_closes_wait_for_the_close_then_run_once() -> None:
    async with store_on_redis(redis_max_connections=4) as (admin, store):
        async with asyncio.timeout(seconds(10)):
            async with writes_paused(admin):
                warm = [asyncio.create_task(store.storage.incr("warm", 60)) for _ in range(4)]
                await until(admin, 0, lambda found: len(found) == 4)
            await asyncio.gather(*warm)
            # Four idle connections start closing; the commands come in the same instant.
            store.retire()
            counts = await asyncio.gather(*(store.storage.incr("hits", 60) for _ in range(20)))
            assert sorted(counts) == list(range(1, 21))
            await until(admin, 0, no_connection)


async def test_closing_a_store_twice_and_closing_the_memory_store_are_harmless() -> None:
    async with redis_with_admin() as (base, admin):
        stores = [open_store(RateLimitPolicy(storage_uri=uri)) for uri in (f"{base}/0", "memory://")]
        async with asyncio.timeout(seconds(10)):
            for store in stores:
                assert await store.storage.incr("k", 60) == 1
                store.retire()
                await store.aclose()
                await store.aclose()
            await until(admin, 0, no_connection)


class _FailingToClosePool(RetirablePool):
    """Closing fails, as it may when a socket refuses to close in time."""

    async def disconnect(self, inuse_connections: bool = True) -> None:
        raise RedisError(f"cannot close {self.connection_kwargs}")


async def test_a_failure_to_close_is_logged_without_the_password_and_raises_nothing() -> None:
    async with redis_with_admin() as (base, admin):
        password = "hunter2-secret"
        await admin.config_set("requirepass", password)  # the admin's connection stays signed in
        uri = base.replace("redis://", f"redis://:{password}@") + "/0"
        with capture_logs() as logs:
            pool = _FailingToClosePool.from_url(uri, max_connections=2, timeout=2)
            storage = RedisStorage(f"async+{uri}", implementation="redispy", connection_pool=pool)
            store = RateLimitStore(storage=storage, pool=pool)
            try:
                async with asyncio.timeout(seconds(10)):
                    assert await store.storage.incr("k", 60) == 1
                    store.retire()
                    await store.aclose()
                    assert await clients(admin, 0)  # the failure was real: the connection is still open
            finally:
                await RetirablePool.disconnect(pool)
        failures = [log for log in logs if log["event"] == "rate_limit_store_close_failed"]
        assert [failure["error"] for failure in failures] == ["RedisError", "RedisError"]
        assert password not in repr(logs)
        assert password not in repr(store) + repr(pool)
        await until(admin, 0, no_connection)
