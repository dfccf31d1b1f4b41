"""A fake Upstream (a seam we own): answers like a connector would and records what reached it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from edge.relay.stream import RelayEventStream
from edge.tunnel.errors import Conflict
from edge.tunnel.messages import AgentEvent, AgentId, Principal, TunnelRequest, TunnelResponse


class FakeEventStream:
    def __init__(self, principal: Principal, since: int | None) -> None:
        self.principal = principal
        self.since = since
        self.queue: asyncio.Queue[AgentEvent | Exception | None] = asyncio.Queue()
        self.closed = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[AgentEvent]:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item
            del item  # like the relay's own stream, keep nothing while waiting for the next one

    def push(self, seq: int, type_: str, data: dict[str, object] | None = None) -> None:
        frame = {"seq": seq, "type": type_, "at": "2026-11-21T10:00:00.000Z", "data": data or {}}
        self.queue.put_nowait(AgentEvent(self.principal.agent_id, seq, type_, json.dumps(frame)))

    def end(self) -> None:
        self.queue.put_nowait(None)

    async def close(self) -> None:
        self.closed.set()


class PushingEventStream(RelayEventStream):
    """The relay's own stream, fed by the test: the event socket has it push (what production runs),
    where a :class:`FakeEventStream` can only be iterated. Its queue holds ``max_queued_events``."""

    def __init__(self, principal: Principal, since: int | None, *, max_queued_events: int = 100_000) -> None:
        super().__init__(
            principal=principal,
            since=since,
            max_queued_events=max_queued_events,
            on_close=lambda _stream: self.closed.set(),
            on_overflow=lambda _stream: None,
        )
        self.closed = asyncio.Event()
        self.attached.set_result(None)

    def push(self, seq: int, type_: str, data: dict[str, object] | None = None) -> None:
        frame = {"seq": seq, "type": type_, "at": "2026-11-21T10:00:00.000Z", "data": data or {}}
        self.deliver(AgentEvent(self.principal.agent_id, seq, type_, json.dumps(frame)))


FakeStream = FakeEventStream | PushingEventStream
StreamFactory = Callable[[Principal, int | None], FakeStream]
STREAM_KINDS = {"push": PushingEventStream, "iterate": FakeEventStream}
"""The two ways an event socket takes its stream's events (``edge.events.push``), for parametrized tests."""

Handler = Callable[[TunnelRequest], Awaitable[TunnelResponse]]


async def echo(request: TunnelRequest) -> TunnelResponse:
    """Answers 200 with what it was asked, so tests can see exactly what crossed the tunnel."""
    principal = request.principal
    body = {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "agent_id": principal.agent_id if principal else None,
        "body": json.loads(request.body) if request.body else None,
    }
    return TunnelResponse(200, {"content-type": "application/json"}, json.dumps(body).encode())


@dataclass
class FakeUpstream:
    handler: Handler = echo
    ready: bool = True
    requests: list[TunnelRequest] = field(default_factory=list)
    opened: asyncio.Queue[FakeStream] = field(default_factory=asyncio.Queue)
    open_error: Exception | None = None
    connections: int = 1
    make_stream: StreamFactory = FakeEventStream

    async def request(self, request: TunnelRequest, *, timeout_s: float) -> TunnelResponse:
        self.requests.append(request)
        return await self.handler(request)

    async def open_events(self, principal: Principal, *, since: int | None) -> FakeStream:
        if self.open_error is not None:
            raise self.open_error
        stream = self.make_stream(principal, since)
        self.opened.put_nowait(stream)
        return stream

    def connection_count(self) -> int:
        return self.connections

    def last_agent(self) -> AgentId | None:
        principal = self.requests[-1].principal if self.requests else None
        return principal.agent_id if principal else None


class ConnectorService:
    """A tiny connector session layer (the ``connector.tunnel.service.TunnelService`` seam): answers with
    what it was asked, refuses ``/api/v1/dialogs`` with a 409 problem, and keeps one event log per agent."""

    def __init__(self) -> None:
        self.handled: list[TunnelRequest] = []
        self.sinks: dict[str, list[Any]] = {}
        self.attached = asyncio.Queue[str]()

    async def handle(self, request: TunnelRequest) -> TunnelResponse:
        self.handled.append(request)
        if request.method == "POST" and request.path == "/api/v1/dialogs":
            raise Conflict("call_in_progress", "The agent is on a call.", dialog_id="16777216")
        return await echo(request)

    async def attach(self, principal: Principal, since: int | None, sink: Any) -> None:
        frame = {"seq": since or 0, "type": "snapshot", "at": "2026-11-21T10:00:00.000Z", "data": {}}
        sink.push(AgentEvent(principal.agent_id, since or 0, "snapshot", json.dumps(frame)))
        self.sinks.setdefault(principal.agent_id, []).append(sink)
        self.attached.put_nowait(principal.agent_id)

    async def detach(self, agent_id: AgentId, sink: Any) -> None:
        if sink in self.sinks.get(agent_id, []):
            self.sinks[agent_id].remove(sink)

    def publish(self, agent_id: str, seq: int, type_: str) -> None:
        frame = {"seq": seq, "type": type_, "at": "2026-11-21T10:00:01.000Z", "data": {}}
        for sink in self.sinks.get(agent_id, []):
            sink.push(AgentEvent(AgentId(agent_id), seq, type_, json.dumps(frame)))
            if type_ == "session.ended":
                sink.end()
