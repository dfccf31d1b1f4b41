"""A demo started for one resilience test: the demo composition with test rate limits, plus the fleet of
simulated agents. Restarting the connector or the edge is the demo's own (:class:`DemoSystem`)."""

from __future__ import annotations

import random
from pathlib import Path

from connector.runtime import Connector
from fingress.bench.fleet import Fleet, Progress
from fingress.bench.target import target_from_demo_json
from fingress.demo.files import RateLimitPolicy
from fingress.demo.ports import PortInUse
from fingress.demo.system import DemoOptions, DemoSystem
from fingress.edge_command import EdgeRuntime
from tests.support.timing import seconds

# All test traffic comes from 127.0.0.1: the demo's per-address limit would throttle normal agents too.
_RATE_LIMITS = RateLimitPolicy(per_ip="100000/second", per_agent="1000/second", sign_in="1000/second")


class ResilienceStack:
    """A running demo and what the tests do to it."""

    def __init__(self, demo: DemoSystem) -> None:
        self.demo = demo

    @property
    def edge(self) -> EdgeRuntime:
        edge = self.demo.edge
        assert edge is not None
        return edge

    @property
    def connector(self) -> Connector:
        connector = self.demo.connector
        assert connector is not None
        return connector

    def fleet(self) -> Fleet:
        return Fleet(
            target=target_from_demo_json(self.demo.manifest_file),
            concurrency=32,
            progress=Progress(),
            timeout_s=seconds(10),
        )

    async def restart_connector(self) -> None:
        await self.demo.restart_connector()

    async def stop_edge(self) -> None:
        await self.demo.stop_edge()

    async def start_edge(self) -> None:
        await self.demo.start_edge()

    async def stop(self) -> None:
        await self.demo.stop()


async def start_stack(data_dir: Path, *, grace_s: float) -> ResilienceStack:
    rng = random.Random()
    for _ in range(20):
        # Below the ephemeral range, so outgoing connections cannot hold a port the demo needs later.
        demo = DemoSystem(
            options=DemoOptions(
                data_dir=data_dir,
                base_port=rng.randrange(20000, 32000),
                tunnel_timeout_s=seconds(10),
                disconnect_grace_s=grace_s,
                rate_limits=_RATE_LIMITS,
            )
        )
        try:
            await demo.start()
        except PortInUse:
            continue
        return ResilienceStack(demo)
    raise AssertionError("no free run of ports found")
