"""Each resilience test gets its own demo (tests break things on purpose).

The demo runs both tiers in the test's process, on the test's loop, and these tests run on the tiers' own
default loops (``fingress.loops.EDGE_LOOP`` and ``CONNECTOR_LOOP``: uvloop both, so one loop; should they
differ, each test runs on each). Not on both loops: every test here is a full demo with a fleet of agents,
and a second loop doubled the suite's wall time (26 -> 50 s) to test restarts on the loop no tier runs on
by default, whose transports the edge's and the connector's own suites test already, and whose composition
``tests/demo`` (``fingress demo``'s default loop) does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from fingress.loops import CONNECTOR_LOOP, EDGE_LOOP, loop_factory
from tests.resilience.support import ResilienceStack, start_stack
from tests.support.loops import LoopFactory
from tests.support.timing import seconds


def pytest_asyncio_loop_factories() -> dict[str, LoopFactory]:
    return {name: loop_factory(name) for name in dict.fromkeys((EDGE_LOOP, CONNECTOR_LOOP))}


@pytest_asyncio.fixture
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ResilienceStack]:
    started = await start_stack(tmp_path_factory.mktemp("resilience"), grace_s=seconds(5))
    try:
        yield started
    finally:
        await started.stop()
