"""What the edge's public API needs from whatever carries requests to a connector.

The tunnel listener implements :class:`Upstream`; the public app depends only on this protocol, so its
tests can drive it with a small fake and production wires in the real tunnel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from edge.tunnel.messages import AgentEvent, Principal, TunnelRequest, TunnelResponse


class EventStream(Protocol):
    """One app socket's subscription to its agent's events, in order, from the connector.

    Iteration ends when the connector ends the stream (for example after ``session.ended``); frames the
    edge produces itself (heartbeats, tunnel-loss alerts) carry the last delivered ``seq`` and do not
    advance it.
    """

    def __aiter__(self) -> AsyncIterator[AgentEvent]: ...

    async def close(self) -> None:
        """Detach from the connector; safe to call more than once."""


class Upstream(Protocol):
    @property
    def ready(self) -> bool:
        """True while at least one connector tunnel is up."""

    async def request(self, request: TunnelRequest, *, timeout_s: float) -> TunnelResponse:
        """Forward one request. Raises ``Unavailable`` (no connector, draining) or ``UpstreamTimeout``."""

    async def open_events(self, principal: Principal, *, since: int | None) -> EventStream:
        """Attach to the agent's event stream, resuming after ``since`` when given.

        The connector answers with the missed events in order, or a ``snapshot`` when it cannot cover the
        gap. Raises ``Unavailable`` when no connector is up, or the ``ApiError`` the connector returned.
        """
