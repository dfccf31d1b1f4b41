"""What the connector asks Finesse to do, as validated values.

Each command checks its own values when built and raises
:class:`~edge.tunnel.errors.BadRequest` (code ``invalid_finesse_request``) for what Finesse would refuse or
what cannot be put into XML at all (control characters, absurd lengths), so the caller learns about it
before anything is sent. :mod:`connector.finesse.render` turns commands into request bodies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from connector.finesse.ids import DeviceId, ReasonCodeId
from connector.finesse.models import CallVariable, MobileAgent
from edge.tunnel.errors import BadRequest

MAX_VALUE_CHARS = 256
MAX_CALL_VARIABLE_CHARS = 2048
# XML 1.0 cannot carry most control characters at all, even escaped.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_DTMF = re.compile(r"[0-9*#A-Da-d,]{1,64}")


def _invalid(field: str, problem: str) -> BadRequest:
    return BadRequest("invalid_finesse_request", f"{field}: {problem}", field=field)


def _check(field: str, value: str, *, required: bool = True, max_chars: int = MAX_VALUE_CHARS) -> None:
    if required and not value.strip():
        raise _invalid(field, "must not be empty")
    if len(value) > max_chars:
        raise _invalid(field, f"longer than {max_chars} characters")
    if _NOT_XML_CHAR.search(value):
        raise _invalid(field, "contains characters XML cannot carry")


class RequestedState(StrEnum):
    """The states a client may ask for after signing in."""

    READY = "READY"
    NOT_READY = "NOT_READY"
    LOGOUT = "LOGOUT"


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


@dataclass(frozen=True, slots=True)
class SignIn:
    """Sign in on ``extension``; as a mobile agent when ``mobile_agent`` is given; on one device of a
    shared-line / multiline extension when ``active_device_id`` is given."""

    extension: str
    mobile_agent: MobileAgent | None = None
    active_device_id: DeviceId | None = None

    def __post_init__(self) -> None:
        _check("extension", self.extension)
        if self.mobile_agent is not None:
            _check("mobile_agent.dial_number", self.mobile_agent.dial_number)
        if self.active_device_id is not None:
            _check("device_id", self.active_device_id)


@dataclass(frozen=True, slots=True)
class StateChange:
    """Go READY, or NOT_READY / LOGOUT with an optional reason code (its database id)."""

    state: RequestedState
    reason_code_id: ReasonCodeId | None = None

    def __post_init__(self) -> None:
        if self.reason_code_id is not None:
            if self.state is RequestedState.READY:
                raise _invalid("reason_code_id", "READY takes no reason code")
            _check("reason_code_id", self.reason_code_id)


@dataclass(frozen=True, slots=True)
class MakeCall:
    """Call ``to_address`` from the agent's own extension ``from_address``."""

    from_address: str
    to_address: str

    def __post_init__(self) -> None:
        _check("from_address", self.from_address)
        _check("to", self.to_address)


@dataclass(frozen=True, slots=True)
class DialogAction:
    """One action on a dialog, taken by the participant at ``target_media_address`` (the agent's own
    extension). Use the named constructors; they say which extra values each action needs."""

    action: DialogActionName
    target_media_address: str
    to_address: str | None = None
    dtmf_string: str | None = None
    call_variables: tuple[CallVariable, ...] = ()
    wrap_up_reason: str | None = None

    def __post_init__(self) -> None:
        _check("target_media_address", self.target_media_address)
        needs_to = self.action in (DialogActionName.CONSULT_CALL, DialogActionName.TRANSFER_SST)
        if needs_to:
            _check("to", self.to_address or "")
        elif self.to_address is not None:
            raise _invalid("to", f"{self.action} takes no destination")
        if self.action is DialogActionName.SEND_DTMF:
            if not _DTMF.fullmatch(self.dtmf_string or ""):
                raise _invalid("digits", "1 to 64 of 0-9 * # A-D")
        elif self.dtmf_string is not None:
            raise _invalid("digits", f"{self.action} takes no digits")
        if self.action is DialogActionName.UPDATE_CALL_DATA:
            if not self.call_variables and self.wrap_up_reason is None:
                raise _invalid("call_variables", "UPDATE_CALL_DATA needs call variables or a wrap-up reason")
            for variable in self.call_variables:
                _check("call_variables", variable.name)
                _check(
                    f"call_variables.{variable.name}",
                    variable.value,
                    required=False,
                    max_chars=MAX_CALL_VARIABLE_CHARS,
                )
            if self.wrap_up_reason is not None:
                _check("wrap_up_reason", self.wrap_up_reason, required=False)
        elif self.call_variables or self.wrap_up_reason is not None:
            raise _invalid("call_variables", f"{self.action} takes no call data")

    @classmethod
    def simple(cls, action: DialogActionName, *, extension: str) -> DialogAction:
        """ANSWER, HOLD, RETRIEVE, DROP, TRANSFER or CONFERENCE: no values beyond the extension."""
        return cls(action=action, target_media_address=extension)

    @classmethod
    def consult_call(cls, *, extension: str, to: str) -> DialogAction:
        return cls(action=DialogActionName.CONSULT_CALL, target_media_address=extension, to_address=to)

    @classmethod
    def transfer_sst(cls, *, extension: str, to: str) -> DialogAction:
        return cls(action=DialogActionName.TRANSFER_SST, target_media_address=extension, to_address=to)

    @classmethod
    def send_dtmf(cls, *, extension: str, digits: str) -> DialogAction:
        return cls(action=DialogActionName.SEND_DTMF, target_media_address=extension, dtmf_string=digits)

    @classmethod
    def update_call_data(
        cls,
        *,
        extension: str,
        call_variables: tuple[CallVariable, ...] = (),
        wrap_up_reason: str | None = None,
    ) -> DialogAction:
        return cls(
            action=DialogActionName.UPDATE_CALL_DATA,
            target_media_address=extension,
            call_variables=call_variables,
            wrap_up_reason=wrap_up_reason,
        )
