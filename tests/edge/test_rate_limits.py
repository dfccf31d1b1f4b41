"""Rate limits per IP, per agent and for sign-in, with the memory store and with a real Redis shared by
two edges."""

from __future__ import annotations

import asyncio

import pytest

from tests.edge.conftest import Edge, EdgeFactory
from tests.edge.redis_server import redis_server


@pytest.mark.parametrize("strategy", [None, "fixed-window", "moving-window", "sliding-window-counter"])
async def test_per_agent_limit_is_429_with_retry_after(make_edge: EdgeFactory, strategy: str | None) -> None:
    chosen = {"strategy": strategy} if strategy is not None else {}
    edge: Edge = await make_edge(rate_limits={"per_agent": "3/minute", **chosen})
    async with asyncio.timeout(10):
        statuses = [
            (await edge.client.get("/api/v1/agent", headers=edge.auth("1001"))).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        refused = await edge.client.get("/api/v1/agent", headers=edge.auth("1001"))
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # Another agent has its own budget.
        assert (await edge.client.get("/api/v1/agent", headers=edge.auth("2002"))).status_code == 200
        assert await edge.metric("fingress_edge_rate_limited_total", limit="per_agent") == 2


async def test_per_ip_limit_counts_before_routing_and_authentication(make_edge: EdgeFactory) -> None:
    edge: Edge = await make_edge(rate_limits={"per_ip": "3/minute"})
    async with asyncio.timeout(10):
        statuses = [(await edge.client.get(path)).status_code for path in ("/api/v1/agent", "/x", "/y", "/z")]
    assert statuses == [401, 404, 404, 429]


async def test_sign_in_has_its_own_stricter_limit(make_edge: EdgeFactory) -> None:
    edge: Edge = await make_edge(rate_limits={"sign_in": "1/minute"})
    body = {"extension": "1001001"}
    async with asyncio.timeout(10):
        first = await edge.client.post("/api/v1/agent/session", json=body, headers=edge.auth())
        second = await edge.client.post("/api/v1/agent/session", json=body, headers=edge.auth())
        other_route = await edge.client.get("/api/v1/agent", headers=edge.auth())
    assert (first.status_code, second.status_code, other_route.status_code) == (200, 429, 200)
    assert len(edge.upstream.requests) == 2


async def test_forwarded_for_is_believed_only_from_trusted_proxies(make_edge: EdgeFactory) -> None:
    trusting: Edge = await make_edge(
        rate_limits={"per_ip": "1/minute"}, http={"trusted_proxies": ["127.0.0.1/32"]}
    )
    untrusting: Edge = await make_edge(rate_limits={"per_ip": "1/minute"})
    async with asyncio.timeout(10):
        # Behind a trusted proxy each real client has its own budget...
        for client in ("198.51.100.1", "198.51.100.2"):
            response = await trusting.client.get(
                "/api/v1/agent", headers={"x-forwarded-for": client, **trusting.auth()}
            )
            assert response.status_code == 200
        # ...and from an untrusted peer the header changes nothing.
        first = await untrusting.client.get(
            "/api/v1/agent", headers={"x-forwarded-for": "203.0.113.1", **untrusting.auth()}
        )
        second = await untrusting.client.get(
            "/api/v1/agent", headers={"x-forwarded-for": "203.0.113.2", **untrusting.auth()}
        )
    assert (first.status_code, second.status_code) == (200, 429)


@pytest.mark.redis
async def test_two_edges_share_one_counter_in_redis(make_edge: EdgeFactory) -> None:
    async with redis_server() as url:
        limits = {"storage_uri": url, "per_agent": "3/minute"}
        first: Edge = await make_edge(rate_limits=limits)
        second: Edge = await make_edge(rate_limits=limits)
        async with asyncio.timeout(10):
            statuses = [
                (await edge.client.get("/api/v1/agent", headers=edge.auth("1001"))).status_code
                for edge in (first, second, first, second)
            ]
            assert statuses == [200, 200, 200, 429]
            assert await second.metric("fingress_edge_rate_limited_total", limit="per_agent") == 1
            for edge in (first, second):
                await edge.client.aclose()
                await edge.server.stop()


@pytest.mark.redis
async def test_strategies_do_not_collide_in_one_redis(make_edge: EdgeFactory) -> None:
    async with redis_server() as url:
        default: Edge = await make_edge(rate_limits={"storage_uri": url, "per_agent": "2/minute"})
        fixed: Edge = await make_edge(
            rate_limits={"storage_uri": url, "per_agent": "2/minute", "strategy": "fixed-window"}
        )
        async with asyncio.timeout(10):
            for _ in range(2):
                assert (await default.client.get("/api/v1/agent", headers=default.auth())).status_code == 200
            assert (await fixed.client.get("/api/v1/agent", headers=fixed.auth())).status_code == 200
            for edge in (default, fixed):
                await edge.client.aclose()
                await edge.server.stop()


async def test_unreachable_redis_fails_open(make_edge: EdgeFactory) -> None:
    edge: Edge = await make_edge(
        rate_limits={"storage_uri": "redis://127.0.0.1:1/0", "per_agent": "1/minute"}
    )
    async with asyncio.timeout(15):
        statuses = [
            (await edge.client.get("/api/v1/agent", headers=edge.auth())).status_code for _ in range(2)
        ]
    assert statuses == [200, 200]
