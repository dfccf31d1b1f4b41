"""The edge's in-process servers run on the loop of the test that starts them, so the conftest's two loops
(asyncio and uvloop, the one ``fingress edge`` runs on) test the edge on each: uvicorn's ``Server.serve()``
takes the running loop, and ``Config(loop=...)`` is read only by ``Server.run()``, which these tests do not
use."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from edge.tunnel.messages import TunnelRequest, TunnelResponse
from tests.edge.conftest import EdgeFactory
from tests.edge.fakes import FakeUpstream, echo
from tests.support.timing import seconds


def loop_of(request: pytest.FixtureRequest) -> str:
    """The loop the conftest gave this test, from its id (``...[asyncio]`` or ``...[uvloop]``)."""
    name = request.node.name
    for loop in ("asyncio", "uvloop"):
        if name.endswith(f"[{loop}]"):
            return loop
    raise AssertionError(f"{name} runs on no named loop: the conftest's loop factories are not in effect")


async def test_the_edge_serves_on_the_loop_the_test_runs_on(
    make_edge: EdgeFactory, request: pytest.FixtureRequest
) -> None:
    serving_loops: list[asyncio.AbstractEventLoop] = []

    async def record_loop(forwarded: TunnelRequest) -> TunnelResponse:
        serving_loops.append(asyncio.get_running_loop())
        return await echo(forwarded)

    edge = await make_edge(FakeUpstream(handler=record_loop))
    async with asyncio.timeout(seconds(10)):
        response = await edge.client.get("/api/v1/agent", headers=edge.auth("1001"))

    assert response.status_code == 200, response.text
    test_loop = asyncio.get_running_loop()
    assert serving_loops == [test_loop]
    assert isinstance(test_loop, uvloop.Loop) == (loop_of(request) == "uvloop")
