"""Password checks with Finesse's account lock: N consecutive bad passwords lock the account for a while,
counted across REST and XMPP. While locked even the right password is refused."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from . import config
from .timers import Scheduler

CredentialCheck = Literal["ok", "bad", "locked"]


@dataclass
class _Record:
    failures: int = 0
    locked_until_s: float = 0.0


class Accounts:
    def __init__(
        self, *, agents: tuple[config.Agent, ...], behaviour: config.Behaviour, scheduler: Scheduler
    ) -> None:
        self._passwords = {agent.id: agent.password for agent in agents}
        self._behaviour = behaviour
        self._scheduler = scheduler
        self._records: dict[str, _Record] = {}

    def check(self, agent_id: str, password: str) -> CredentialCheck:
        expected = self._passwords.get(agent_id)
        if expected is None:
            # Unknown users are refused without a record, so probing names cannot lock anything.
            return "bad"
        record = self._records.setdefault(agent_id, _Record())
        now_s = self._scheduler.monotonic_s()
        if record.locked_until_s > now_s:
            return "locked"
        if hmac.compare_digest(expected.get_secret_value().encode(), password.encode()):
            record.failures = 0
            return "ok"
        record.failures += 1
        if record.failures >= self._behaviour.lock_after_failures:
            record.failures = 0
            record.locked_until_s = now_s + self._behaviour.lock_duration_s
        return "bad"

    def locked(self, agent_id: str) -> bool:
        record = self._records.get(agent_id)
        return record is not None and record.locked_until_s > self._scheduler.monotonic_s()

    def unlock(self, agent_id: str) -> None:
        self._records.pop(agent_id, None)
