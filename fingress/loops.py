"""The event loops a fingress process can run on (``--loop`` of ``fingress edge`` / ``connector``, the demo
and the benchmark)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fingress.gc_tuning import tune_for_serving

T = TypeVar("T")

# uvloop's TLS transport allocates the read buffer lazily, where CPython's zero-fills 256 KiB per
# connection: the edge (one TLS connection per agent) needs about a fifth of the memory on it.
LOOPS = ("asyncio", "uvloop")
# The demo's default (one process), and the benchmark's for the emulator and the simulated agents (its
# edge and connector processes run on the tiers' own defaults below).
DEFAULT_LOOP = "asyncio"
# `fingress edge`: 200 agents, events scenario, 10 s (`fingress bench --spawn-demo ... --edge-loop X`):
# uvloop 125 KiB RSS per agent, asyncio 620; same event rate, no failures either way.
EDGE_LOOP = "uvloop"
# `fingress connector`: uvloop costs it less CPU for the same work (measured: the README's performance
# section). Its suites (tunnel, sessions, reattach, restart path, HTTP backend, XMPP) run every async test
# on both loops (tests/support/loops.py), so a loop-specific fault shows there; the XMPP links once lost at
# 300 agents on uvloop are not lost any more (a 2,000-agent run with the connector on uvloop was clean).
CONNECTOR_LOOP = "uvloop"


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A factory for the named loop; ValueError for a name not in :data:`LOOPS`."""
    if name == "asyncio":
        return asyncio.new_event_loop
    if name == "uvloop":
        import uvloop  # only when asked for

        return uvloop.new_event_loop
    raise ValueError(f"unknown event loop {name!r}: one of {', '.join(LOOPS)}")


def run_on(name: str, main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the named loop, with the collector tuned for serving
    (:mod:`fingress.gc_tuning`)."""
    factory = loop_factory(name)
    tune_for_serving()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
