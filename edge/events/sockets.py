"""How many event sockets each agent has open on this edge, so the policy's cap can be enforced."""

from __future__ import annotations

from collections import Counter

from edge.tunnel.messages import AgentId


class SocketCounter:
    def __init__(self) -> None:
        self._open: Counter[AgentId] = Counter()

    def try_acquire(self, agent_id: AgentId, *, cap: int) -> bool:
        """Count one more socket for ``agent_id`` unless it already has ``cap``."""
        if self._open[agent_id] >= cap:
            return False
        self._open[agent_id] += 1
        return True

    def release(self, agent_id: AgentId) -> None:
        self._open[agent_id] -= 1
        if self._open[agent_id] <= 0:
            del self._open[agent_id]

    def open_for(self, agent_id: AgentId) -> int:
        return self._open[agent_id]
