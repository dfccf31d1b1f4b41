"""Request bodies and query parameters of the public API, validated for shape only.

The edge checks that a request is well formed and bounded; what it means for Finesse is the connector's
business. Every model forbids unknown fields, so nothing the edge did not validate reaches the tunnel.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator

# Dialled strings: digits, an optional leading "+", and the keypad's "*" and "#".
DialNumber = Annotated[str, StringConstraints(pattern=r"^\+?[0-9*#]{1,32}$")]
Extension = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z+*#._-]{1,32}$")]
DeviceId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._:-]{1,64}$")]
# Finesse's database id of a reason code (the last segment of its URI), as the opaque string id that
# `GET /api/v1/reason-codes` lists: clients pass back what they were given.
ReasonCodeId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}$")]
DtmfDigits = Annotated[str, StringConstraints(pattern=r"^[0-9*#A-D]{1,32}$")]
CallVariableName = Annotated[
    str, StringConstraints(pattern=r"^(callVariable([1-9]|10)|user\.[A-Za-z0-9_.-]{1,64})$")
]
CallVariableValue = Annotated[str, StringConstraints(max_length=210)]
WrapUpReason = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class Body(BaseModel):
    """Base of every request body: strict types, unknown fields rejected, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class MobileAgentMode(StrEnum):
    CALL_BY_CALL = "CALL_BY_CALL"
    NAILED_CONNECTION = "NAILED_CONNECTION"


class MobileAgent(Body):
    mode: MobileAgentMode
    dial_number: DialNumber


class SignIn(Body):
    """``POST /api/v1/agent/session``."""

    extension: Extension
    device_id: DeviceId | None = None
    mobile_agent: MobileAgent | None = None
    # Only when the connector signs in to Finesse with the agent's password; never logged or echoed.
    finesse_password: SecretStr | None = Field(default=None, max_length=256)


class SignOut(Body):
    """``DELETE /api/v1/agent/session`` (the body is optional)."""

    reason_code_id: ReasonCodeId | None = None


class AgentStateName(StrEnum):
    READY = "READY"
    NOT_READY = "NOT_READY"


class StateChange(Body):
    """``PUT /api/v1/agent/state``: READY, or NOT_READY with an optional reason code."""

    state: AgentStateName
    reason_code_id: ReasonCodeId | None = None

    @model_validator(mode="after")
    def _reason_only_for_not_ready(self) -> Self:
        if self.state is AgentStateName.READY and self.reason_code_id is not None:
            raise ValueError("reason_code_id is only allowed with NOT_READY")
        return self


class MakeCall(Body):
    """``POST /api/v1/dialogs``."""

    to: DialNumber


class DialogActionName(StrEnum):
    ANSWER = "ANSWER"
    HOLD = "HOLD"
    RETRIEVE = "RETRIEVE"
    DROP = "DROP"
    CONSULT_CALL = "CONSULT_CALL"
    TRANSFER = "TRANSFER"
    CONFERENCE = "CONFERENCE"
    TRANSFER_SST = "TRANSFER_SST"
    SEND_DTMF = "SEND_DTMF"
    UPDATE_CALL_DATA = "UPDATE_CALL_DATA"


_NEEDS_TO = frozenset({DialogActionName.CONSULT_CALL, DialogActionName.TRANSFER_SST})


class DialogAction(Body):
    """``POST /api/v1/dialogs/{dialog_id}/actions``: each action takes exactly the fields it needs."""

    action: DialogActionName
    to: DialNumber | None = None
    digits: DtmfDigits | None = None
    call_variables: dict[CallVariableName, CallVariableValue] | None = Field(default=None, max_length=64)
    wrap_up_reason: WrapUpReason | None = None

    @model_validator(mode="after")
    def _fields_match_action(self) -> Self:
        action = self.action
        if (self.to is not None) != (action in _NEEDS_TO):
            raise ValueError("'to' is required for CONSULT_CALL and TRANSFER_SST and allowed for no other")
        if (self.digits is not None) != (action is DialogActionName.SEND_DTMF):
            raise ValueError("'digits' is required for SEND_DTMF and allowed for no other action")
        has_data = self.call_variables is not None or self.wrap_up_reason is not None
        if action is DialogActionName.UPDATE_CALL_DATA and not has_data:
            raise ValueError("UPDATE_CALL_DATA needs call_variables or wrap_up_reason")
        if action is not DialogActionName.UPDATE_CALL_DATA and has_data:
            raise ValueError("call_variables and wrap_up_reason are only allowed with UPDATE_CALL_DATA")
        return self


class ReasonCodeCategory(StrEnum):
    NOT_READY = "NOT_READY"
    LOGOUT = "LOGOUT"


class ReasonCodeQuery(Body):
    """Query of ``GET /api/v1/reason-codes``."""

    category: ReasonCodeCategory


class EventsTicket(BaseModel):
    """Answer of ``POST /api/v1/events/ticket``: pass ``ticket`` as ``?ticket=`` to ``/api/v1/events``."""

    ticket: str
    expires_in_s: int
