"""The CTI state both sides share: agents as the CTI server sees them, and dialogs (calls) with their
participants. Plain mutable records; every rule that changes them lives in :mod:`.cti`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from . import config
from .hub import Side
from .timers import TimerHandle

AgentState = Literal[
    "LOGOUT", "NOT_READY", "READY", "RESERVED", "TALKING", "HOLD", "WORK", "WORK_READY", "UNKNOWN"
]
RequestableState = Literal["LOGIN", "READY", "NOT_READY", "LOGOUT"]
MobileMode = Literal["CALL_BY_CALL", "NAILED_CONNECTION"]
ParticipantState = Literal["INITIATING", "INITIATED", "ALERTING", "ACTIVE", "HELD", "DROPPED", "WRAP_UP"]
DialogState = Literal["INITIATING", "INITIATED", "ALERTING", "ACTIVE", "DROPPED"]
# A MAKE_CALL dialog before the far end rings: only the calling agent is a participant.
DialingState = Literal["", "INITIATING", "INITIATED"]
CallType = Literal["ACD_IN", "OUT", "CONSULT", "TRANSFER", "CONFERENCE", "AGENT_INSIDE"]

# Participant states in which a party is still part of the call.
CONNECTED_STATES: frozenset[str] = frozenset({"INITIATING", "INITIATED", "ALERTING", "ACTIVE", "HELD"})


@dataclass(frozen=True)
class MobileAgent:
    mode: MobileMode
    dial_number: str


@dataclass
class Agent:
    """One agent's CTI state. ``profile`` is the configured, immutable part. ``state`` and ``extension``
    change only through :class:`~fingress.emulator.cti.Cti`, which indexes signed-in agents by extension."""

    profile: config.Agent
    wrap_up_timer_s: int
    state: AgentState
    state_change_time: datetime
    extension: str = ""
    device_id: str = ""
    reason: config.ReasonCode | None = None
    pending_state: Literal["", "READY", "NOT_READY"] = ""
    pending_reason: config.ReasonCode | None = None
    mobile_agent: MobileAgent | None = None
    nailed_connected: bool = False
    # The side whose REST API signed the agent in; a side going down clears mobile-agent details of the
    # agents it served (Finesse loses them on a node switch).
    signed_in_side: Side | None = None
    # Where the agent returns when its calls (and wrap-up) end, unless a pending state overrides.
    after_call_state: Literal["READY", "NOT_READY"] = "NOT_READY"
    after_call_reason: config.ReasonCode | None = None
    ready_since_s: float = 0.0
    wrap_up_dialog_id: str = ""
    # REQUIRED_WITH_WRAP_UP_DATA: the agent may leave this wrap-up only once the dialog has a reason.
    wrap_up_needs_reason: bool = False
    wrap_up_timer: TimerHandle | None = None
    nailed_timer: TimerHandle | None = None

    @property
    def id(self) -> str:
        return self.profile.id

    @property
    def signed_in(self) -> bool:
        return self.state != "LOGOUT"


@dataclass
class Participant:
    media_address: str
    media_address_type: Literal["AGENT_DEVICE", "EXTERNAL"]
    state: ParticipantState
    start_time: datetime
    state_change_time: datetime
    agent_id: str | None = None
    state_cause: str = ""
    answered: bool = False

    @property
    def connected(self) -> bool:
        return self.state in CONNECTED_STATES


@dataclass
class Dialog:
    id: str
    from_address: str
    to_address: str
    call_type: CallType
    incoming: bool
    state: DialogState = "INITIATED"
    dialed_number: str = ""
    dnis: str = ""
    queue_name: str = ""
    call_variables: dict[str, str] = field(default_factory=dict)
    wrap_up_reason: str = ""
    participants: list[Participant] = field(default_factory=list)
    # A consult call points at the held call it consults on.
    consult_of: str = ""
    dtmf_digits: str = ""
    nailed_setup_for: str = ""
    ring_timer: TimerHandle | None = None
    # MAKE_CALL progress: the dialog's state while dialing (before the far end rings), and the timer of
    # its next step (INITIATED, far end ALERTING, outside party answering).
    dialing: DialingState = ""
    progress_timer: TimerHandle | None = None

    @property
    def uri(self) -> str:
        return f"/finesse/api/Dialog/{self.id}"

    def participant_of(self, agent_id: str) -> Participant | None:
        for participant in self.participants:
            if participant.agent_id == agent_id:
                return participant
        return None

    def agent_ids(self) -> list[str]:
        return [p.agent_id for p in self.participants if p.agent_id is not None]

    def connected(self) -> list[Participant]:
        return [p for p in self.participants if p.connected]
