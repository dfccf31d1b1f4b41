"""The event loops a fingress process can run on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# uvloop (installed with uvicorn[standard]) is an option, not the default: at 300 agents the connector on
# uvloop lost its XMPP links (503 finesse_link_down) in the first measurement. Its TLS transport allocates
# the read buffer lazily, where CPython's zero-fills 256 KiB per connection.
LOOPS = ("asyncio", "uvloop")
DEFAULT_LOOP = "asyncio"


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A factory for the named loop; ValueError for a name not in :data:`LOOPS`."""
    if name == "asyncio":
        return asyncio.new_event_loop
    if name == "uvloop":
        import uvloop  # only when asked for

        return uvloop.new_event_loop
    raise ValueError(f"unknown event loop {name!r}: one of {', '.join(LOOPS)}")


def run_on(name: str, main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the named loop."""
    factory = loop_factory(name)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
