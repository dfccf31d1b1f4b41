"""Which connector holds each agent's session, as far as this edge has seen.

Rendezvous hashing places an agent on one of the connectors that are up, so the placement changes when the
set changes: while connector X restarts, its agents sign in again through Y (Finesse still has them signed
in: Y reattaches), and once X is back the hash names X again. Routing by the hash alone then sent the
agent's next request and its next event socket to X, which holds no session for it (``no_session``), and
the app signed in a third time, through X, while Y's session lost its event socket and, after the grace,
applied the grace policy (NOT_READY by default) to an agent who was working. So the edge remembers, per
agent, the connector that last answered for its session (a successful request, an attached event stream)
and routes there while that connector is usable; the hash decides only for agents it has not seen, or whose
connector is gone, or answered that it holds no session for them, or that signed out.

Each edge learns from its own traffic. An edge that has not seen the agent since its session moved (several
edges behind a load balancer; an edge restarted) goes by the hash, and when that connector answers
``no_session`` the relay asks the other connectors, each once, before it gives the app that answer
(``TunnelRelay._search_on``). Bounded: the entries that changed longest ago are forgotten first.
"""

from __future__ import annotations

# Agents remembered per edge; an entry is a dictionary slot and two shared strings (~0.1 KiB).
DEFAULT_MAX_AGENTS = 100_000


class SessionHolders:
    """agent id → the connector id that last answered for the agent's session."""

    __slots__ = ("_by_agent", "_max_agents")

    def __init__(self, *, max_agents: int = DEFAULT_MAX_AGENTS) -> None:
        if max_agents < 1:
            raise ValueError("max_agents must be at least 1")
        self._by_agent: dict[str, str] = {}
        self._max_agents = max_agents

    def __len__(self) -> int:
        return len(self._by_agent)

    def holder(self, agent_id: str) -> str | None:
        """The connector that last answered for the agent's session, if this edge has seen one."""
        return self._by_agent.get(agent_id)

    def answered(self, agent_id: str, connector_id: str) -> None:
        """``connector_id`` served the agent's session (a 2xx answer, an attached stream)."""
        by_agent = self._by_agent
        if by_agent.get(agent_id) == connector_id:
            return
        by_agent.pop(agent_id, None)  # re-inserted last: the oldest entries are the least recently changed
        by_agent[agent_id] = connector_id
        if len(by_agent) > self._max_agents:
            del by_agent[next(iter(by_agent))]

    def forget(self, agent_id: str) -> None:
        """The agent's session ends (it signed out): its next sign-in goes where the hash says, so that the
        agents a restart gathered on one connector spread again as they sign in anew."""
        self._by_agent.pop(agent_id, None)

    def holds_none(self, agent_id: str, connector_id: str) -> None:
        """``connector_id`` answered that it holds no session for the agent: forget it, unless another
        connector has answered for the agent since."""
        if self._by_agent.get(agent_id) == connector_id:
            del self._by_agent[agent_id]
