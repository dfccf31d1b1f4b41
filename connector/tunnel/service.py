"""What the tunnel needs from the connector's session layer, and what it hands it.

The session layer implements :class:`TunnelService`; the tunnel calls it for every request and every
event-stream attachment the edge sends, and gives it one :class:`EventSink` per attachment.
"""

from __future__ import annotations

from typing import Protocol

from edge.tunnel.messages import AgentEvent, AgentId, Principal, TunnelRequest, TunnelResponse


class EventSink(Protocol):
    """Where one attachment's events go: an app's event socket on the edge, through the tunnel."""

    def push(self, event: AgentEvent) -> None:
        """Queue one event; never blocks. Does nothing once the attachment is over (the tunnel then
        also calls :meth:`TunnelService.detach`, so the session layer can forget this sink)."""

    def end(self) -> None:
        """End the stream after the events already pushed (e.g. after ``session.ended``)."""

    @property
    def closed(self) -> bool:
        """True once the attachment is over (detached, ended, overflowed or its connection lost)."""


class TunnelService(Protocol):
    async def handle(self, request: TunnelRequest) -> TunnelResponse:
        """Answer one request. Raises ``ApiError`` for a failure the app should see; anything else
        becomes a 502 ``connector_error``. ``request.principal`` is set for every ``/api/`` route."""

    async def attach(self, principal: Principal, since: int | None, sink: EventSink) -> None:
        """Start delivering the agent's events to ``sink``: the events after ``since`` (or a snapshot
        when they cannot be replayed), then every new one. Raises ``ApiError`` (e.g. not signed in)."""

    async def detach(self, agent_id: AgentId, sink: EventSink) -> None:
        """Stop delivering to ``sink``; called once per successful attach, whatever ended it."""
