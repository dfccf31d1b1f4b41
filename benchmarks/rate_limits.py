"""The edge's rate limiter with a memory store (not a test): CPU µs per counted hit, per strategy, when
many agents each make one request a second — the store's expiry of old keys included — and the memory the
store holds per agent after 60 requests inside a minute. Two stores: ``limits``' own ``MemoryStorage``
(which the edge used before) and ours, ``edge.ratelimit_memory.MemoryRateLimitStorage``.

    PYTHONPATH=. .venv/bin/python benchmarks/rate_limits.py [--agents 2000] [--seconds 5] [--store both]

Each simulated second every agent's key gets one hit (``EdgeRateLimiter.check`` under ``per_agent``),
then the loop idles until the next second, so ``limits``' expiry task runs as it would in the edge. CPU is
the process's (``time.process_time``, threads included: ``limits``' memory store moves work to a thread).
Our store sweeps only when a new key arrives after its interval, which one-minute windows may not bring
within the run, so its sweep is also timed on its own: one sweep over every agent's keys.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import tracemalloc
from collections.abc import Callable
from typing import get_args

from limits.aio.storage import MemoryStorage, Storage

from edge.policy import RateLimitPolicy
from edge.ratelimit import EdgeRateLimiter, Limit
from edge.ratelimit_memory import MemoryRateLimitStorage

STRATEGIES = get_args(RateLimitPolicy.model_fields["strategy"].annotation)
STORES: dict[str, Callable[[], Storage]] = {"limits": MemoryStorage, "fingress": MemoryRateLimitStorage}


async def cpu_per_hit_us(strategy: str, store: str, *, agents: int, seconds: float) -> float:
    policy = RateLimitPolicy(strategy=strategy, per_agent="1000/minute")
    limiter = EdgeRateLimiter(policy=policy, storage=STORES[store]())
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


async def kib_per_agent(strategy: str, store: str, *, agents: int, requests: int = 60) -> float:
    limiter = EdgeRateLimiter(policy=RateLimitPolicy(strategy=strategy), storage=STORES[store]())
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


async def our_sweep_us(strategy: str, *, agents: int) -> float:
    """CPU of one sweep of our store over every agent's keys (the next new key after the interval)."""
    now = [time.time()]
    store = MemoryRateLimitStorage(clock=lambda: now[0], sweep_interval_s=5)
    limiter = EdgeRateLimiter(policy=RateLimitPolicy(strategy=strategy), storage=store)
    for index in range(agents):
        await limiter.check(Limit.PER_AGENT, f"agent-{index}")
    now[0] += 5
    started_cpu = time.process_time()
    await store.incr("a-new-key", 60)
    return (time.process_time() - started_cpu) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--store", choices=[*STORES, "both"], default="both")
    args = parser.parse_args()
    stores = list(STORES) if args.store == "both" else [args.store]
    print(f"memory:// stores, {args.agents} agents x 1 hit/s for {args.seconds:g} s")
    for strategy in STRATEGIES:
        for store in stores:
            cpu_us = asyncio.run(cpu_per_hit_us(strategy, store, agents=args.agents, seconds=args.seconds))
            kib = asyncio.run(kib_per_agent(strategy, store, agents=args.agents))
            print(f"  {strategy:24} {store:9} {cpu_us:7.1f} us CPU per hit {kib:6.2f} KiB per agent")
    if "fingress" in stores:
        for strategy in STRATEGIES:
            sweep_us = asyncio.run(our_sweep_us(strategy, agents=args.agents))
            print(f"  fingress sweep, {strategy:24} {sweep_us:7.0f} us over {args.agents} agents' keys")


if __name__ == "__main__":
    main()
