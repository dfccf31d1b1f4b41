"""A small in-test TunnelService (a seam we own): echoes requests and keeps a per-agent event log with
replay, like the session layer will."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

from connector.tunnel.service import EventSink
from edge.tunnel.errors import NotFound
from edge.tunnel.messages import AgentEvent, AgentId, Principal, TunnelRequest, TunnelResponse


def make_event(agent_id: str, seq: int, type_: str = "dialog.updated") -> AgentEvent:
    text = json.dumps({"seq": seq, "type": type_, "at": "2026-11-21T10:00:00.000Z", "data": {"n": seq}})
    return AgentEvent(agent_id=AgentId(agent_id), seq=seq, type=type_, json=text)


class EchoService:
    """``/api/v1/echo`` answers with what it got; ``/api/v1/slow`` waits for ``release``;
    ``/api/v1/missing`` raises ``NotFound``; ``/api/v1/crash`` raises a plain exception."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.slow_started = asyncio.Event()
        self.cancelled = 0
        self.handled = 0
        self.log: dict[str, list[AgentEvent]] = defaultdict(list)
        self.sinks: dict[str, list[EventSink]] = defaultdict(list)
        self.detached: list[tuple[str, EventSink]] = []
        self.detach_seen = asyncio.Event()
        self.refuse_agents: set[str] = set()

    async def handle(self, request: TunnelRequest) -> TunnelResponse:
        if request.path == "/api/v1/slow":
            self.slow_started.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        elif request.path == "/api/v1/missing":
            raise NotFound("no_such_dialog", "no such dialog")
        elif request.path == "/api/v1/crash":
            raise RuntimeError("secret internal detail")
        self.handled += 1
        body = {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "body": request.body.decode(),
            "agent_id": None if request.principal is None else request.principal.agent_id,
        }
        return TunnelResponse(
            status=200, headers={"content-type": "application/json"}, body=json.dumps(body).encode()
        )

    async def attach(self, principal: Principal, since: int | None, sink: EventSink) -> None:
        agent = principal.agent_id
        if agent in self.refuse_agents:
            raise NotFound("not_signed_in", "the agent is not signed in")
        log = self.log[agent]
        last = log[-1].seq if log else 0
        if since is None or since > last:
            sink.push(make_event(agent, last, "snapshot"))
        else:
            for event in log:
                if event.seq > since:
                    sink.push(event)
        self.sinks[agent].append(sink)

    async def detach(self, agent_id: AgentId, sink: EventSink) -> None:
        if sink in self.sinks[agent_id]:
            self.sinks[agent_id].remove(sink)
        self.detached.append((agent_id, sink))
        self.detach_seen.set()

    def publish(self, agent_id: str, type_: str = "dialog.updated") -> AgentEvent:
        log = self.log[agent_id]
        event = make_event(agent_id, (log[-1].seq if log else 0) + 1, type_)
        log.append(event)
        for sink in list(self.sinks[agent_id]):
            sink.push(event)
        return event
