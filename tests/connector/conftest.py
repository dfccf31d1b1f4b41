"""The session layer against the real emulator (REST over TLS on loopback), with millisecond timings;
every async test runs on asyncio and on uvloop."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from connector.config import ConnectorConfig, parse_config
from connector.finesse.client import FinesseClient, build_http_client
from connector.ops.metrics import ConnectorMetrics
from connector.sessions.context import SessionContext
from connector.sessions.links import LinkFactory
from connector.sessions.manager import DEFAULT_SIGN_IN_CONCURRENCY, SessionManager
from edge.tunnel.errors import ApiError
from edge.tunnel.messages import AgentEvent, AgentId, Principal, TunnelRequest
from fingress.emulator.config import BearerSettings, load_config
from fingress.emulator.hub import Side
from fingress.emulator.server import EmulatorServer
from tests.connector.hublink import HubLinkFactory
from tests.support.loops import LoopFactory, both_loops
from tests.support.timing import seconds

PASSWORDS = {"1001": "alice-pass", "1002": "bob-pass", "1003": "carol-pass", "1006": "frank-pass"}


def pytest_asyncio_loop_factories() -> dict[str, LoopFactory]:
    return both_loops()


@pytest.fixture
async def emulator(server_ssl_context: ssl.SSLContext) -> AsyncIterator[EmulatorServer]:
    async for server in start_emulator(server_ssl_context):
        yield server


async def start_emulator(
    server_ssl_context: ssl.SSLContext, *, bearer: BearerSettings | None = None, **behaviour: Any
) -> AsyncIterator[EmulatorServer]:
    """The emulator with millisecond timings; ``behaviour`` overrides its [behaviour] table and
    ``bearer`` its [bearer] table (SSO tokens)."""
    base = load_config()
    if bearer is not None:
        base = base.model_copy(update={"bearer": bearer})
    base = base.model_copy(update={"behaviour": base.behaviour.model_copy(update=behaviour)})
    timing = base.timing.model_copy(
        update={
            "async_processing_delay_s": 0.002,
            "presence_logout_delay_s": seconds(0.4),
            "failure_detection_s": 0,
            "ring_timeout_s": seconds(30),
            "nailed_answer_timeout_s": seconds(30),
        }
    )
    config = base.model_copy(update={"timing": timing})
    ports: dict[Side, int] = {"A": 0, "B": 0}
    async with EmulatorServer(
        emulator_config=config, ssl_context=server_ssl_context, https_ports=ports, xmpp_ports=ports
    ) as server:
        yield server


@pytest.fixture
async def http(client_ssl_context: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with build_http_client(ssl_context=client_ssl_context, timeout_s=seconds(5)) as client:
        yield client


def connector_config(emulator: EmulatorServer, **tables: dict[str, Any]) -> ConnectorConfig:
    """The connector's configuration for this emulator; ``tables`` override keys of each table."""

    def side(name: str) -> dict[str, Any]:
        return {
            "rest_url": emulator.base_url(name),  # type: ignore[arg-type]
            "xmpp_transport": "ws",
            "xmpp_address": emulator.base_url(name).replace("https", "wss") + "/ws/",  # type: ignore[arg-type]
            "xmpp_domain": emulator.config.sides.A.xmpp_domain
            if name == "A"
            else emulator.config.sides.B.xmpp_domain,
        }

    document: dict[str, dict[str, Any]] = {
        "finesse": {"side_a": side("A"), "side_b": side("B"), "action_timeout_s": seconds(2)},
        "sessions": {"disconnect_grace_s": seconds(0.3), "event_buffer_size": 64},
        "xmpp": {
            "reconnect_base_s": 0.01,
            "reconnect_max_s": 0.05,
            "alert_after_failures": 2,
            "connect_timeout_s": seconds(2),
        },
        "failover": {"move_after_failures": 3, "stale_logout_window_s": seconds(10)},
        # A free port: the default (9091) is taken whenever two runs, or a demo, share the machine.
        "admin": {"port": 0},
    }
    for table, values in tables.items():
        document.setdefault(table, {}).update(values)
    return parse_config(document)


@dataclass
class Harness:
    """A session manager wired to the emulator, plus helpers to drive it like the tunnel would."""

    emulator: EmulatorServer
    http: httpx.AsyncClient
    manager: SessionManager
    links: HubLinkFactory
    metrics: ConnectorMetrics
    control: httpx.AsyncClient
    _ids: int = 0
    sinks: list[Sink] = field(default_factory=list)

    async def call(
        self,
        agent: str,
        method: str,
        path: str,
        body: Any = None,
        query: str = "",
        *,
        token: str | None = None,
        token_expires_at: float | None = None,
    ) -> tuple[int, Any]:
        """One public API request as the tunnel delivers it; an ApiError becomes (status, wire form).
        ``token`` is the caller's bearer token as the edge forwards it (policy ``forward_token``), with
        the ``exp`` the edge verified."""
        self._ids += 1
        request = TunnelRequest(
            request_id=f"t-{self._ids}",
            method=method,
            path=path,
            query=query,
            headers={},
            body=json.dumps(body).encode() if body is not None else b"",
            principal=Principal(
                agent_id=AgentId(agent), subject=agent, token=token, token_expires_at=token_expires_at
            ),
        )
        try:
            async with asyncio.timeout(seconds(10)):
                response = await self.manager.handle(request)
        except ApiError as error:
            return error.status, error.to_wire()
        return response.status, json.loads(response.body)

    async def sign_in(self, agent: str, **body: Any) -> tuple[int, Any]:
        body.setdefault("finesse_password", PASSWORDS[agent])
        return await self.call(agent, "POST", "/api/v1/agent/session", body)

    async def subscribe(self, agent: str, since: int | None = None) -> Sink:
        sink = Sink()
        await self.manager.attach(Principal(agent_id=AgentId(agent), subject=agent), since, sink)
        self.sinks.append(sink)
        return sink

    async def unsubscribe(self, agent: str, sink: Sink) -> None:
        await self.manager.detach(AgentId(agent), sink)

    async def finesse_agent(self, agent: str) -> dict[str, Any]:
        """The agent as the emulator (Finesse) sees it, through its control API."""
        response = await self.control.get("/emulator/agents")
        response.raise_for_status()
        return next(entry for entry in response.json() if entry["id"] == agent)

    async def offer_call(self, agent: str, **variables: str) -> str:
        response = await self.control.post(
            "/emulator/calls", json={"agent_id": agent, "from": "5550100", "call_variables": variables}
        )
        assert response.status_code == 201, response.text
        dialog_id: str = response.json()["dialog_id"]
        return dialog_id


class Sink:
    """An event subscriber like the tunnel's: collects frames, can wait for one."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.ended = False
        self.closed = False
        self._changed = asyncio.Event()

    def push(self, event: AgentEvent) -> None:
        frame = json.loads(event.json)
        assert frame["seq"] == event.seq
        assert frame["type"] == event.type
        self.frames.append(frame)
        self._changed.set()

    def end(self) -> None:
        self.ended = True
        self._changed.set()

    def types(self) -> list[str]:
        return [frame["type"] for frame in self.frames]

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 5.0
    ) -> dict[str, Any]:
        """The first frame (already received or arriving) that satisfies ``predicate``."""
        async with asyncio.timeout(seconds(timeout_s)):
            while True:
                for frame in self.frames:
                    if predicate(frame):
                        return frame
                self._changed.clear()
                await self._changed.wait()


def of_type(type_: str, **data: Any) -> Callable[[dict[str, Any]], bool]:
    def matches(frame: dict[str, Any]) -> bool:
        return frame["type"] == type_ and all(frame["data"].get(k) == v for k, v in data.items())

    return matches


async def make_harness(
    emulator: EmulatorServer,
    http: httpx.AsyncClient,
    client_ssl_context: ssl.SSLContext,
    *,
    links: LinkFactory | None = None,
    sign_in_concurrency: int = DEFAULT_SIGN_IN_CONCURRENCY,
    **tables: dict[str, Any],
) -> AsyncIterator[Harness]:
    config = connector_config(emulator, **tables)
    metrics = ConnectorMetrics()
    hub_links = HubLinkFactory(emulator)
    finesse = {
        side: FinesseClient(http=http, base_url=emulator.base_url(side), side=side, observer=metrics)
        for side in ("A", "B")
    }
    context = SessionContext(
        config=config,
        finesse=finesse,  # type: ignore[arg-type]
        links=links or hub_links,
        metrics=metrics,
    )
    manager = SessionManager(context=context, sign_in_concurrency=sign_in_concurrency)
    async with httpx.AsyncClient(
        base_url=emulator.base_url("A"), verify=client_ssl_context, timeout=seconds(5)
    ) as control:
        yield Harness(emulator, http, manager, hub_links, metrics, control)
        await manager.aclose()


@pytest.fixture
async def harness(
    emulator: EmulatorServer, http: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> AsyncIterator[Harness]:
    async for built in make_harness(emulator, http, client_ssl_context):
        yield built


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    """Wait until ``check`` holds, polling (for state only visible through the emulator's control API)."""
    async with asyncio.timeout(seconds(timeout_s)):
        while not await check():
            await asyncio.sleep(0.01)
