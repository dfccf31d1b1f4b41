"""A cluster for the XMPP servers to talk to: the ``ClusterPort`` seam, which we own, recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from fingress.emulator.hub import Side

DOMAINS: dict[Side, str] = {"A": "finesse-a.emulator.test", "B": "finesse-b.emulator.test"}


@dataclass
class RecordingCluster:
    """Agents ``6021``.. with password ``secret-<id>``; every call recorded."""

    passwords: dict[str, str] = field(
        default_factory=lambda: {agent: f"secret-{agent}" for agent in ("6021", "6022", "6023")}
    )
    service: dict[Side, bool] = field(default_factory=lambda: {"A": True, "B": True})
    webapp: dict[Side, bool] = field(default_factory=lambda: {"A": True, "B": True})
    presence: list[tuple[Side, str, bool]] = field(default_factory=list)
    auth_attempts: list[tuple[Side, str]] = field(default_factory=list)

    def authenticate(self, side: Side, agent_id: str, password: str) -> bool:
        self.auth_attempts.append((side, agent_id))
        return self.passwords.get(agent_id) == password

    def in_service(self, side: Side) -> bool:
        return self.service[side]

    def webapp_up(self, side: Side) -> bool:
        return self.webapp[side]

    def xmpp_domain(self, side: Side) -> str:
        return DOMAINS[side]

    def presence_changed(self, side: Side, agent_id: str, available: bool) -> None:
        self.presence.append((side, agent_id, available))
        for waiter in tuple(self._waiters):
            waiter.set()

    _waiters: set[asyncio.Event] = field(default_factory=set)

    async def presence_reaches(self, predicate: Callable[[list[tuple[Side, str, bool]]], bool]) -> None:
        """Return once ``predicate(self.presence)`` holds (callers bound the wait)."""
        changed = asyncio.Event()
        self._waiters.add(changed)
        try:
            while not predicate(self.presence):
                await changed.wait()
                changed.clear()
        finally:
            self._waiters.discard(changed)

    async def presence_is(self, side: Side, agent_id: str, available: bool) -> None:
        """Return once the last report for ``agent_id`` on ``side`` says ``available``."""

        def latest_matches(presence: list[tuple[Side, str, bool]]) -> bool:
            reports = [report[2] for report in presence if report[:2] == (side, agent_id)]
            return bool(reports) and reports[-1] == available

        await self.presence_reaches(latest_matches)
