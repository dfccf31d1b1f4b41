"""The edge's rate limiter with the memory store (not a test): CPU µs per counted hit, per strategy, when
many agents each make one request a second — the store's background sweep of expired keys included —
and the memory the store holds per agent after 60 requests inside a minute.

    .venv/bin/python benchmarks/rate_limits.py [--agents 2000] [--seconds 5]

Each simulated second every agent's key gets one hit (``EdgeRateLimiter.check`` under ``per_agent``),
then the loop idles until the next second, so the store's expiry task runs as it would in the edge. CPU is
the process's (``time.process_time``, threads included: ``limits``' memory store moves work to a thread).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import tracemalloc
from typing import get_args

from limits.aio.storage import MemoryStorage

from edge.policy import RateLimitPolicy
from edge.ratelimit import EdgeRateLimiter, Limit

STRATEGIES = get_args(RateLimitPolicy.model_fields["strategy"].annotation)


async def cpu_per_hit_us(strategy: str, *, agents: int, seconds: float) -> float:
    policy = RateLimitPolicy(strategy=strategy, per_agent="1000/minute")
    limiter = EdgeRateLimiter(policy=policy, storage=MemoryStorage())
    identities = [f"agent-{index}" for index in range(agents)]
    for identity in identities:  # every key exists before the clock starts
        await limiter.check(Limit.PER_AGENT, identity)
    hits = 0
    started_cpu, started = time.process_time(), time.perf_counter()
    while time.perf_counter() - started < seconds:
        second_started = time.perf_counter()
        for index, identity in enumerate(identities):
            await limiter.check(Limit.PER_AGENT, identity)
            hits += 1
            if index % 50 == 0:
                await asyncio.sleep(0)  # requests arrive spread out, not in one burst
        await asyncio.sleep(max(0.0, 1 - (time.perf_counter() - second_started)))
    return (time.process_time() - started_cpu) / hits * 1e6


async def kib_per_agent(strategy: str, *, agents: int, requests: int = 60) -> float:
    limiter = EdgeRateLimiter(policy=RateLimitPolicy(strategy=strategy), storage=MemoryStorage())
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for index in range(agents):
            for _ in range(requests):
                await limiter.check(Limit.PER_AGENT, f"agent-{index}")
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return grown / agents / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    print(f"memory:// store, {args.agents} agents x 1 hit/s for {args.seconds:g} s")
    for strategy in STRATEGIES:
        cpu_us = asyncio.run(cpu_per_hit_us(strategy, agents=args.agents, seconds=args.seconds))
        kib = asyncio.run(kib_per_agent(strategy, agents=min(args.agents, 1000)))
        print(f"  {strategy:24} {cpu_us:7.1f} us CPU per hit {kib:6.2f} KiB per agent")


if __name__ == "__main__":
    main()
