"""One demo per test module and event loop, on free ports, with its data directory in a temporary folder.

The demo runs its tiers in the test's process, so they serve on the test's loop; every async test runs on
asyncio and on uvloop (ids ending in ``[asyncio]`` / ``[uvloop]``): asyncio is what ``fingress demo`` runs
on by default, uvloop what ``fingress edge`` and ``fingress connector`` run on. Both cost ~6 s of wall
time (one more demo per module), so there is no reason to choose."""

from __future__ import annotations

import json
import random
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from fingress.demo.ports import DemoPorts, PortInUse
from fingress.demo.system import DemoOptions, DemoSystem
from tests.support.loops import LoopFactory, both_loops
from tests.support.timing import seconds


def pytest_asyncio_loop_factories() -> dict[str, LoopFactory]:
    return both_loops()


async def start_demo(data_dir: Path, **options: Any) -> DemoSystem:
    """A started demo on some free run of ports (a random base, retried when one is taken)."""
    rng = random.Random()
    for _ in range(20):
        base = rng.randrange(20000, 32000)  # below Linux's ephemeral range
        demo = DemoSystem(
            options=DemoOptions(data_dir=data_dir, base_port=base, tunnel_timeout_s=seconds(10), **options)
        )
        try:
            await demo.start()
        except PortInUse:
            continue
        return demo
    raise AssertionError("no free run of ports found")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DemoSystem]:
    system = await start_demo(tmp_path_factory.mktemp("demo"), disconnect_grace_s=seconds(0.5))
    try:
        yield system
    finally:
        await system.stop()


@pytest.fixture(scope="module")
def manifest(demo: DemoSystem) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(demo.manifest_file.read_text())
    return loaded


@pytest.fixture(scope="module")
def trust(manifest: dict[str, Any]) -> ssl.SSLContext:
    """What a client of the demo trusts: only the CA that demo.json names."""
    return ssl.create_default_context(cafile=manifest["ca_file"])


def base_port_of(demo: DemoSystem) -> int:
    return DemoPorts.from_base(demo.options.base_port).public
