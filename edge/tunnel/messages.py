"""The values that cross the tunnel, independent of how they are framed on the wire.

The edge builds :class:`TunnelRequest` after authenticating a caller; the connector answers with a
:class:`TunnelResponse` and pushes :class:`AgentEvent` values for the agents whose event stream the edge
holds. Only the edge ever creates a :class:`Principal`: the connector trusts one because the tunnel is
mutually authenticated, and rejects agent routes that arrive without one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NewType

AgentId = NewType("AgentId", str)


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller. ``agent_id`` comes only from the verified token, never from the request."""

    agent_id: AgentId
    subject: str
    scopes: tuple[str, ...] = ()
    # The caller's bearer token, forwarded only when the edge's policy says so (Finesse ``bearer`` auth
    # mode, where Finesse trusts the same identity provider). ``repr=False`` keeps it out of logs.
    token: str | None = field(default=None, repr=False)
    token_expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class TunnelRequest:
    """An allow-listed public API call, forwarded after authentication and rate limiting."""

    request_id: str
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    principal: Principal | None


@dataclass(frozen=True, slots=True)
class TunnelResponse:
    """The connector's answer: the final HTTP status, headers that matter and the JSON body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """One event frame for an agent's stream. ``json`` is the complete serialized event frame
    (``{"seq", "type", "at", "data"}``), encoded once by the connector and sent verbatim by the edge."""

    agent_id: AgentId
    seq: int
    type: str
    json: str
