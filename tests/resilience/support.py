"""A demo started for one resilience test, with the hooks the tests need that the demo composition does not
offer (restart the connector, restart the edge): done here by rebuilding those parts from the demo's own
configuration files, on the same ports."""

from __future__ import annotations

import random
from contextlib import AsyncExitStack
from pathlib import Path

from connector.runtime import Connector
from fingress.bench.fleet import Fleet, Progress
from fingress.bench.target import target_from_demo_json
from fingress.connector_command import build_connector, load_connector_file
from fingress.demo.ports import PortInUse
from fingress.demo.system import DemoOptions, DemoSystem
from fingress.edge_command import EdgeRuntime, load_edge_file
from fingress.pki import write_atomically
from tests.support.timing import seconds

# All test traffic comes from 127.0.0.1: the demo's per-address limit would throttle normal agents too.
_RATE_LIMITS = """
[rate_limits]
strategy = "fixed-window"
per_ip = "100000/second"
per_agent = "1000/second"
sign_in = "1000/second"
"""


class ResilienceStack:
    """A demo plus replaceable edge and connector (the replacements are stopped by :meth:`stop`)."""

    def __init__(self, demo: DemoSystem) -> None:
        self.demo = demo
        self._replacements = AsyncExitStack()
        self._edge: EdgeRuntime | None = None
        self._connector: Connector | None = None

    @property
    def edge(self) -> EdgeRuntime:
        edge = self._edge or self.demo.edge
        assert edge is not None
        return edge

    @property
    def connector(self) -> Connector:
        connector = self._connector or self.demo.connector
        assert connector is not None
        return connector

    def fleet(self) -> Fleet:
        return Fleet(
            target=target_from_demo_json(self.demo.manifest_file),
            concurrency=32,
            progress=Progress(),
            timeout_s=seconds(10),
        )

    async def raise_rate_limits(self) -> None:
        policy = self.demo.data_dir / "policy.toml"
        write_atomically(policy, policy.read_bytes() + _RATE_LIMITS.encode(), mode=0o644)
        assert await self.edge.reload()

    async def restart_connector(self) -> None:
        """Stop the connector (its sessions end; Finesse states untouched) and start a new one."""
        await self.connector.close()
        config = load_connector_file(self.demo.data_dir / "connector.toml")
        connector = build_connector(config)
        self._connector = await self._replacements.enter_async_context(connector)

    async def stop_edge(self) -> None:
        await self.edge.stop()

    async def start_edge(self) -> None:
        edge = EdgeRuntime(edge_file=load_edge_file(self.demo.data_dir / "edge.toml"))
        await edge.start()
        self._replacements.push_async_callback(edge.stop)
        self._edge = edge

    async def stop(self) -> None:
        await self._replacements.aclose()
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
            )
        )
        try:
            await demo.start()
        except PortInUse:
            continue
        stack = ResilienceStack(demo)
        await stack.raise_rate_limits()
        return stack
    raise AssertionError("no free run of ports found")
