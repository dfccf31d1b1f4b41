"""Look-ups over the configured cluster (teams, reason codes, devices, supervision), built once."""

from __future__ import annotations

from . import config


class Directory:
    """Read-only indexes over an :class:`~fingress.emulator.config.EmulatorConfig`."""

    def __init__(self, cluster_config: config.EmulatorConfig) -> None:
        self.config = cluster_config
        self.profiles = {agent.id: agent for agent in cluster_config.agents}
        self.teams = {team.id: team for team in cluster_config.teams}
        self.reason_codes = {code.id: code for code in cluster_config.reason_codes}
        self._extensions = {extension.number: extension for extension in cluster_config.extensions}

    def team_of(self, agent_id: str) -> config.Team:
        return self.teams[self.profiles[agent_id].team_id]

    def supervised_teams(self, agent_id: str) -> list[config.Team]:
        if "Supervisor" not in self.profiles[agent_id].roles:
            return []
        return [team for team in self.config.teams if agent_id in team.supervisor_ids]

    def supervises(self, supervisor_id: str, agent_id: str) -> bool:
        team_id = self.profiles[agent_id].team_id
        return any(team.id == team_id for team in self.supervised_teams(supervisor_id))

    def selectable_reason_codes(self, category: config.ReasonCategory) -> list[config.ReasonCode]:
        """What an agent may pick (system codes are applied by the emulator only)."""
        return [code for code in self.config.reason_codes if code.category == category and not code.system]

    def system_code(self, category: config.ReasonCategory, number: int) -> config.ReasonCode:
        """A required system code (the configuration is validated to contain every one of them)."""
        for code in self.config.reason_codes:
            if code.category == category and code.code == number:
                return code
        raise LookupError(f"system reason code {number} ({category}) is not configured")

    def devices(self, extension: str) -> tuple[config.Device, ...]:
        """The devices of ``extension``; an unlisted extension is one implicit device named after it."""
        listed = self._extensions.get(extension)
        if listed is not None:
            return listed.devices
        return (config.Device(device_id=extension),)

    def is_multi_device(self, extension: str) -> bool:
        return len(self.devices(extension)) > 1
