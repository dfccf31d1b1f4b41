"""The resilience tests run on the tiers' default loop (the conftest's ``pytest_asyncio_loop_factories``);
the demo they start serves on the loop of the test that starts it."""

from __future__ import annotations

import asyncio

import uvloop

from fingress.loops import CONNECTOR_LOOP, EDGE_LOOP


async def test_the_tests_run_on_a_tiers_default_loop() -> None:
    running = "uvloop" if isinstance(asyncio.get_running_loop(), uvloop.Loop) else "asyncio"
    assert running in {EDGE_LOOP, CONNECTOR_LOOP}
