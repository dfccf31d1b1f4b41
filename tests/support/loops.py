"""The event loops the connector's suites run every async test on: asyncio's own and uvloop.

A suite's ``conftest.py`` answers pytest-asyncio's ``pytest_asyncio_loop_factories`` hook with
:func:`both_loops`; each async test then runs once per loop, its id ending in ``[asyncio]`` or
``[uvloop]``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# uvloop is a dependency of fingress (the edge's default loop), so it is imported, not probed: a missing
# uvloop fails the suites rather than quietly testing one loop.
import uvloop

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def both_loops() -> dict[str, LoopFactory]:
    """The loop factories by name, asyncio first (a test's ids and order follow it)."""
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
