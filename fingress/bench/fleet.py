"""The simulated agents of one run, brought up together: token, sign-in, event socket, READY."""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from connector.finesse.http_transport import asyncio_http_transport
from fingress.bench.agent import AgentFailed, SimulatedAgent, of_type
from fingress.bench.stats import Latencies
from fingress.bench.target import Target

T = TypeVar("T")
_POOL_SIZE = 8
# Idle pooled connections are closed before the servers would close them: uvicorn's timeout_keep_alive
# (5 s by default, what the edge runs with; the emulator models Tomcat's 20 s). At equal timeouts (httpx's
# default expiry is 5 s too) the bench sometimes sent a request on a connection the edge was closing at
# that moment ("server disconnected", seen once in a 2,000-agent run). Two seconds of margin: our idle
# clock starts after the server's (the response's transit), and a saturated loop checks it late.
KEEPALIVE_EXPIRY_S = 3.0


@dataclass
class Progress:
    """Counters the progress line shows while a run goes on."""

    phase: str = "starting"
    done: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def fail(self, error: BaseException) -> None:
        self.failed += 1
        key = (
            str(error).split(": ", 1)[-1][:80] if isinstance(error, AgentFailed) else error.__class__.__name__
        )
        self.errors[key] = self.errors.get(key, 0) + 1


class Fleet:
    """HTTP clients shared by every agent (one to the edge, one to the emulator's control API), and the
    agents themselves."""

    def __init__(
        self, *, target: Target, concurrency: int, progress: Progress, timeout_s: float = 30.0
    ) -> None:
        self.target = target
        self.progress = progress
        self.timeout_s = timeout_s
        self.trust = ssl.create_default_context(cafile=str(target.ca_file))
        # Many small pools rather than one large one: made for httpcore's pool, which polled every idle
        # connection on each request (LAB-NOTES). Our own transport's pool takes an idle connection in
        # constant time, so one pool of ``concurrency`` connections would do as well; the shards stay
        # (the same connections either way) so that figures compare with earlier rounds'.
        shards = max(1, math.ceil(concurrency / _POOL_SIZE))
        self._api_pool = [self._client(target.public_url) for _ in range(shards)]
        self._control_pool = [self._client(target.emulator_url) for _ in range(shards)]
        self.api, self.control = self._api_pool[0], self._control_pool[0]
        self._gate = asyncio.Semaphore(concurrency)
        self.agents: list[SimulatedAgent] = []

    def _client(self, base_url: str) -> httpx.AsyncClient:
        # On the connector's own transport (connector.finesse.http_transport): httpx's default, httpcore's
        # pool on anyio, was half of the bench's CPU in a sign-in storm.
        # No proxy from the environment: the pool must be this one.
        transport = asyncio_http_transport(
            ssl_context=self.trust,
            max_connections=_POOL_SIZE,
            max_keepalive_connections=_POOL_SIZE,
            keepalive_expiry_s=KEEPALIVE_EXPIRY_S,
        )
        return httpx.AsyncClient(
            base_url=base_url, transport=transport, trust_env=False, timeout=self.timeout_s
        )

    async def aclose(self) -> None:
        await asyncio.gather(*(agent.close_events() for agent in self.agents), return_exceptions=True)
        for client in (*self._api_pool, *self._control_pool):
            await client.aclose()

    def api_for(self, index: int) -> httpx.AsyncClient:
        return self._api_pool[index % len(self._api_pool)]

    def control_for(self, index: int) -> httpx.AsyncClient:
        return self._control_pool[index % len(self._control_pool)]

    async def gated(self, work: Awaitable[T]) -> T:
        """Run ``work`` under the fleet's concurrency limit."""
        async with self._gate:
            return await work

    async def bring_up(self, count: int, *, ready: bool = True) -> Latencies:
        """Sign ``count`` agents in at once (bounded by the concurrency limit), open their sockets, wait
        for each snapshot and go READY. Returns the sign-in latencies; failed agents are left out."""
        self.progress.phase = "signing in"
        sign_ins = Latencies()
        specs = self.target.agents[:count]

        async def one(index: int, spec: Any) -> SimulatedAgent | None:
            try:
                async with self._gate:
                    token = await self.target.token(spec, http=self.api_for(index))
                    agent = SimulatedAgent(
                        spec=spec,
                        token=token,
                        api=self.api_for(index),
                        events_url=self.target.events_url,
                        ssl_context=self.trust,
                    )
                    started = time.perf_counter()
                    await agent.sign_in()
                    sign_ins.add(time.perf_counter() - started)
                    snapshot = agent.expect(of_type("snapshot"))
                    await agent.open_events()
                    await agent.wait(snapshot, timeout_s=self.timeout_s)
                    if ready:
                        await agent.set_state("READY")
            except (AgentFailed, httpx.HTTPError, RuntimeError) as error:
                self.progress.fail(error)
                return None
            self.progress.done += 1
            return agent

        results = await asyncio.gather(*(one(index, spec) for index, spec in enumerate(specs)))
        self.agents = [agent for agent in results if agent is not None]
        return sign_ins

    async def control_call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, shard: int = 0
    ) -> httpx.Response:
        """A control-API call on the emulator (``shard`` picks the pooled client)."""
        return await self.control_for(shard).request(method, path, json=body)


async def run_for(duration_s: float, loop: Callable[[], Awaitable[None]]) -> None:
    """Run ``loop`` repeatedly until ``duration_s`` is over (an iteration in progress is cancelled)."""

    async def forever() -> None:
        while True:
            await loop()

    try:
        async with asyncio.timeout(duration_s):
            await forever()
    except TimeoutError:
        return
