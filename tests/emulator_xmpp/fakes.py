"""A cluster for the XMPP servers to talk to: the ``ClusterPort`` seam, which we own, recorded."""

from __future__ import annotations

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
    presence: list[tuple[Side, str, bool]] = field(default_factory=list)
    auth_attempts: list[tuple[Side, str]] = field(default_factory=list)

    def authenticate(self, side: Side, agent_id: str, password: str) -> bool:
        self.auth_attempts.append((side, agent_id))
        return self.passwords.get(agent_id) == password

    def in_service(self, side: Side) -> bool:
        return self.service[side]

    def xmpp_domain(self, side: Side) -> str:
        return DOMAINS[side]

    def presence_changed(self, side: Side, agent_id: str, available: bool) -> None:
        self.presence.append((side, agent_id, available))
