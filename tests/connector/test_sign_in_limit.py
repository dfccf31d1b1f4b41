"""The sign-in bound: beyond ``sign_in_concurrency`` sign-ins wait their turn, in arrival order.

Against the real emulator; the only seam is an httpx request hook that holds each agent's first Finesse
request until the test lets it go, so the test sees exactly which sign-ins are talking to Finesse.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from typing import Any

import httpx
import pytest

from connector.finesse.client import build_http_client
from connector.sessions.context import SessionContext
from connector.sessions.manager import SessionManager
from fingress.emulator.server import EmulatorServer
from tests.connector.conftest import Harness, make_harness
from tests.support.timing import seconds


class FinesseGate:
    """Holds each agent's first request to Finesse until released; records the order agents arrive."""

    def __init__(self) -> None:
        self.arrived: list[str] = []
        self._released: dict[str, asyncio.Event] = {}
        self._arrival = asyncio.Event()

    async def hold(self, request: httpx.Request) -> None:
        agent = _basic_user(request.headers.get("authorization", ""))
        if agent in self.arrived:
            return
        self.arrived.append(agent)
        self._arrival.set()
        await self._released.setdefault(agent, asyncio.Event()).wait()

    def release(self, agent: str) -> None:
        self._released.setdefault(agent, asyncio.Event()).set()

    async def wait_arrivals(self, count: int, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(seconds(timeout_s)):
            while len(self.arrived) < count:
                self._arrival.clear()
                await self._arrival.wait()


def _basic_user(authorization: str) -> str:
    scheme, _, value = authorization.partition(" ")
    assert scheme == "Basic", "password mode sends HTTP Basic"
    return base64.b64decode(value).decode().partition(":")[0]


async def _sign_in(harness: Harness, agent: str, finished: list[str] | None = None) -> tuple[int, Any]:
    result = await harness.sign_in(agent, extension=agent)
    if finished is not None:
        finished.append(agent)
    return result


async def test_sign_ins_beyond_the_limit_wait_and_complete_in_arrival_order(
    emulator: EmulatorServer, client_ssl_context: ssl.SSLContext
) -> None:
    gate = FinesseGate()
    agents = ["1001", "1002", "1003"]
    async with build_http_client(ssl_context=client_ssl_context, timeout_s=seconds(5)) as http:
        http.event_hooks = {"request": [gate.hold], "response": []}
        async for harness in make_harness(emulator, http, client_ssl_context, sign_in_concurrency=1):
            finished: list[str] = []
            # Tasks start in creation order, so this is the order the sign-ins reach the bound.
            tasks = [asyncio.create_task(_sign_in(harness, agent, finished)) for agent in agents]
            try:
                await gate.wait_arrivals(1)
                assert gate.arrived == ["1001"]
                # The other two are queued behind the bound: none reaches Finesse while 1001 holds it.
                with pytest.raises(TimeoutError):
                    await gate.wait_arrivals(2, timeout_s=0.2)

                gate.release("1001")
                await gate.wait_arrivals(2)
                assert gate.arrived == ["1001", "1002"], "the earlier waiter goes first"
                assert finished == ["1001"], "1002 entered only once 1001's sign-in had finished"
                with pytest.raises(TimeoutError):
                    await gate.wait_arrivals(3, timeout_s=0.2)

                gate.release("1002")
                gate.release("1003")
                async with asyncio.timeout(seconds(10)):
                    results = await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
            assert [status for status, _ in results] == [200, 200, 200], results
            assert [agent["state"] for _, agent in results] == ["NOT_READY"] * 3
            assert gate.arrived == agents
            assert finished == agents
            assert len(harness.manager) == 3


async def test_up_to_the_limit_sign_ins_talk_to_finesse_at_once(
    emulator: EmulatorServer, client_ssl_context: ssl.SSLContext
) -> None:
    gate = FinesseGate()
    agents = ["1001", "1002", "1003"]
    async with build_http_client(ssl_context=client_ssl_context, timeout_s=seconds(5)) as http:
        http.event_hooks = {"request": [gate.hold], "response": []}
        async for harness in make_harness(emulator, http, client_ssl_context, sign_in_concurrency=2):
            tasks = [asyncio.create_task(_sign_in(harness, agent)) for agent in agents]
            try:
                # Two are held inside Finesse at the same time; the third waits for a free slot.
                await gate.wait_arrivals(2)
                assert gate.arrived == ["1001", "1002"]
                with pytest.raises(TimeoutError):
                    await gate.wait_arrivals(3, timeout_s=0.2)
                gate.release("1002")
                await gate.wait_arrivals(3)
                for agent in agents:
                    gate.release(agent)
                async with asyncio.timeout(seconds(10)):
                    results = await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
            assert [status for status, _ in results] == [200, 200, 200], results


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused(limit: int) -> None:
    context: SessionContext = object()  # type: ignore[assignment]  # never touched: refused first
    with pytest.raises(ValueError, match="at least 1"):
        SessionManager(context=context, sign_in_concurrency=limit)
