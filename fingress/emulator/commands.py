"""What a REST body asks for, once parsed and before the cluster validates its meaning.

Values stay strings (or None when the element was absent) so that the cluster, which knows the rules,
decides between "Parameter Missing" and "Invalid Input"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    """The authenticated caller."""

    agent_id: str
    supervisor: bool = False


@dataclass(frozen=True)
class MobileAgentRequest:
    mode: str | None
    dial_number: str | None


@dataclass(frozen=True)
class UserUpdate:
    """``PUT /finesse/api/User/{id}``."""

    state: str | None = None
    extension: str | None = None
    reason_code_id: str | None = None
    mobile_agent: MobileAgentRequest | None = None
    active_device_id: str | None = None


@dataclass(frozen=True)
class DialogRequest:
    """``POST /finesse/api/User/{id}/Dialogs`` and ``PUT /finesse/api/Dialog/{id}``."""

    requested_action: str | None = None
    from_address: str | None = None
    to_address: str | None = None
    target_media_address: str | None = None
    action_params: Mapping[str, str] = field(default_factory=dict)
    call_variables: Mapping[str, str] = field(default_factory=dict)
    wrap_up_reason: str | None = None
