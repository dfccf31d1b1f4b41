"""Response bodies and event frames of the public API, as the connector shapes them today.

These models document the contract (they feed the OpenAPI document) and let tests check real answers;
the edge never re-serialises a response through them: it relays the connector's bytes. Every model
forbids unknown keys, so a renamed key fails validation instead of passing unnoticed. ``None`` marks a
value the connector sends as JSON ``null``; the key itself is always present unless a default says
otherwise.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Shape(BaseModel):
    """Base of every response shape: unknown keys rejected, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- agent -------------------------------------------------------------------------------------------------


class ReasonCode(Shape):
    """A reason code. ``id`` is the opaque id that requests pass back; ``code`` the numeric code."""

    id: str
    code: int | None
    label: str
    category: str


class MobileAgentView(Shape):
    mode: Literal["CALL_BY_CALL", "NAILED_CONNECTION"]
    dial_number: str


class TeamView(Shape):
    id: str
    name: str


class WrapUpSettings(Shape):
    """The agent's wrap-up rule after incoming/outgoing calls (``None``: Finesse did not say)."""

    on_incoming: str | None
    on_outgoing: str | None
    timer_s: int | None


class Agent(Shape):
    """The agent: ``GET /api/v1/agent``, and what sign-in, state change and sign-out confirm."""

    id: str
    login_name: str
    first_name: str
    last_name: str
    signed_in: bool
    # A Finesse agent state name (READY, NOT_READY, TALKING, WRAP_UP, LOGOUT, ... or UNKNOWN).
    state: str
    state_change_time: str | None
    pending_state: str | None
    reason_code_id: str | None
    reason_code: ReasonCode | None
    extension: str | None
    device_id: str | None
    mobile_agent: MobileAgentView | None
    roles: list[str]
    team: TeamView | None
    wrap_up: WrapUpSettings


class ReasonCodeList(Shape):
    """``GET /api/v1/reason-codes``."""

    reason_codes: list[ReasonCode]


class WrapUpReason(Shape):
    id: str
    label: str


class WrapUpReasonList(Shape):
    """``GET /api/v1/wrap-up-reasons``."""

    wrap_up_reasons: list[WrapUpReason]


# --- dialogs -----------------------------------------------------------------------------------------------


class Participant(Shape):
    media_address: str
    media_address_type: str | None
    state: str
    state_cause: str | None
    start_time: str | None


class Dialog(Shape):
    """A call of the agent. ``actions`` are what Finesse allows the agent's own participant now;
    ``ended`` is present (true) only when an action's answer describes a call that is already over."""

    id: str
    from_address: str
    to_address: str
    state: str
    dialed_number: str | None
    call_type: str | None
    dnis: str | None
    queue_name: str | None
    wrap_up_reason: str | None
    call_variables: dict[str, str]
    # ECC variables by name without Finesse's ``user.`` prefix.
    ecc_variables: dict[str, str]
    participants: list[Participant]
    own_state: str | None
    actions: list[str]
    ended: Literal[True] | None = None


class EndedDialog(Shape):
    """An action's answer when the call ended and nothing more is known of it."""

    id: str | None
    ended: Literal[True]


class DialogList(Shape):
    """``GET /api/v1/dialogs``."""

    dialogs: list[Dialog]


# --- pending, problems -------------------------------------------------------------------------------------


class Pending(Shape):
    """202: Finesse accepted the request but did not confirm it in time; the outcome arrives as an event
    (``agent.updated``/``dialog.*``, or ``request.failed`` with this ``request_id``)."""

    status: Literal["pending"]
    request_id: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of the public API is rendered. Some codes add members:
    ``errors`` (invalid_body, invalid_query: ``[{field, message}]``), ``reason`` (invalid_token),
    ``retry_after_s`` (rate_limited), ``devices`` (device_selection_required)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str
    title: str
    status: int
    detail: str
    code: str


class Device(Shape):
    device_id: str
    type: str
    type_name: str


class DeviceSelectionProblem(Shape):
    """409 ``device_selection_required``: sign in again with one of ``devices`` as ``device_id``."""

    type: str
    title: str
    status: Literal[409]
    detail: str
    code: Literal["device_selection_required"]
    devices: list[Device]


# --- events ------------------------------------------------------------------------------------------------


class EventType(StrEnum):
    """Every ``type`` an event frame can carry."""

    SNAPSHOT = "snapshot"
    HEARTBEAT = "heartbeat"
    AGENT_UPDATED = "agent.updated"
    DIALOG_CREATED = "dialog.created"
    DIALOG_UPDATED = "dialog.updated"
    DIALOG_ENDED = "dialog.ended"
    REQUEST_FAILED = "request.failed"
    SESSION_ENDED = "session.ended"
    ALERT = "alert"


class Snapshot(Shape):
    agent: Agent | None
    dialogs: list[Dialog]


class Heartbeat(Shape):
    pass


class DialogEnded(Shape):
    id: str
    dialog: Dialog


class FinesseError(Shape):
    """What Finesse said about a failed request; the ``peripheral_*`` keys only when Finesse gave them."""

    error_type: str
    error_message: str
    error_data: str | None = None
    peripheral_error_code: str | None = None
    peripheral_error_msg: str | None = None
    peripheral_error_text: str | None = None


class RequestFailed(Shape):
    request_id: str | None
    source: str
    errors: list[FinesseError]


class SessionEnded(Shape):
    reason: str


class Alert(BaseModel):
    """An operational notice (``finesse_link_down``, ``recovered``, ``failover``, ``resync``, ...); each
    kind adds its own members (``side``, ``reason``, ``from``, ``to``)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str


class _Frame(Shape):
    # Snapshots and heartbeats carry the last seq sent; every other frame advances it by one.
    seq: int = Field(ge=0)
    at: str = Field(description="UTC time of the event, ISO 8601 with milliseconds")


class SnapshotFrame(_Frame):
    type: Literal[EventType.SNAPSHOT]
    data: Snapshot


class HeartbeatFrame(_Frame):
    type: Literal[EventType.HEARTBEAT]
    data: Heartbeat


class AgentUpdatedFrame(_Frame):
    type: Literal[EventType.AGENT_UPDATED]
    data: Agent


class DialogCreatedFrame(_Frame):
    type: Literal[EventType.DIALOG_CREATED]
    data: Dialog


class DialogUpdatedFrame(_Frame):
    type: Literal[EventType.DIALOG_UPDATED]
    data: Dialog


class DialogEndedFrame(_Frame):
    type: Literal[EventType.DIALOG_ENDED]
    data: DialogEnded


class RequestFailedFrame(_Frame):
    type: Literal[EventType.REQUEST_FAILED]
    data: RequestFailed


class SessionEndedFrame(_Frame):
    type: Literal[EventType.SESSION_ENDED]
    data: SessionEnded


class AlertFrame(_Frame):
    type: Literal[EventType.ALERT]
    data: Alert


EventFrame = Annotated[
    SnapshotFrame
    | HeartbeatFrame
    | AgentUpdatedFrame
    | DialogCreatedFrame
    | DialogUpdatedFrame
    | DialogEndedFrame
    | RequestFailedFrame
    | SessionEndedFrame
    | AlertFrame,
    Field(discriminator="type"),
]

EVENT_FRAME: TypeAdapter[Any] = TypeAdapter(EventFrame)
"""Validates one decoded event frame (``EVENT_FRAME.validate_python(frame)``)."""

EVENT_FRAME_MODELS: dict[EventType, type[BaseModel]] = {
    EventType.SNAPSHOT: SnapshotFrame,
    EventType.HEARTBEAT: HeartbeatFrame,
    EventType.AGENT_UPDATED: AgentUpdatedFrame,
    EventType.DIALOG_CREATED: DialogCreatedFrame,
    EventType.DIALOG_UPDATED: DialogUpdatedFrame,
    EventType.DIALOG_ENDED: DialogEndedFrame,
    EventType.REQUEST_FAILED: RequestFailedFrame,
    EventType.SESSION_ENDED: SessionEndedFrame,
    EventType.ALERT: AlertFrame,
}
"""The frame model of each event type."""
