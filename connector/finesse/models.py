"""Typed, immutable values for what Finesse sends: users, dialogs, reason codes, errors, notifications.

Values are built by :mod:`connector.finesse.parse`; nothing here does I/O. Fields that Finesse leaves out
get neutral defaults (empty string, ``None``, empty tuple) so a model built from an older or newer
release still reads the same way. Server-side enumerations that Finesse extends across releases (dialog
and participant states, actions) stay strings; the agent state is an enum because the session layer
decides on it, with ``UNKNOWN`` for values it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from connector.finesse.ids import AgentId, DeviceId, DialogId, ReasonCodeId, RequestId, TeamId, WrapUpReasonId


class AgentState(StrEnum):
    """States an agent can be in (LOGIN only ever appears in requests and transiently)."""

    LOGIN = "LOGIN"
    LOGOUT = "LOGOUT"
    NOT_READY = "NOT_READY"
    READY = "READY"
    RESERVED = "RESERVED"
    RESERVED_OUTBOUND = "RESERVED_OUTBOUND"
    RESERVED_OUTBOUND_PREVIEW = "RESERVED_OUTBOUND_PREVIEW"
    TALKING = "TALKING"
    HOLD = "HOLD"
    WORK = "WORK"
    WORK_READY = "WORK_READY"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: str) -> AgentState:
        """The state named ``value`` in any case; ``UNKNOWN`` for names this release does not know."""
        try:
            return cls(value.strip().upper())
        except ValueError:
            return cls.UNKNOWN


class MobileAgentMode(StrEnum):
    CALL_BY_CALL = "CALL_BY_CALL"
    NAILED_CONNECTION = "NAILED_CONNECTION"


class ReasonCodeCategory(StrEnum):
    NOT_READY = "NOT_READY"
    LOGOUT = "LOGOUT"


@dataclass(frozen=True, slots=True)
class ReasonCode:
    """A reason code. ``id`` is the Finesse database id that requests carry, ``code`` the numeric code."""

    id: ReasonCodeId
    category: str
    code: int | None
    label: str
    for_all: bool = False
    uri: str = ""
    system_code: bool = False


@dataclass(frozen=True, slots=True)
class WrapUpReason:
    id: WrapUpReasonId
    label: str
    for_all: bool = False
    uri: str = ""


@dataclass(frozen=True, slots=True)
class WrapUpSettings:
    """REQUIRED, REQUIRED_WITH_WRAP_UP_DATA, OPTIONAL or NOT_ALLOWED per call direction ("" if absent)."""

    wrap_up_on_incoming: str = ""
    wrap_up_on_outgoing: str = ""


@dataclass(frozen=True, slots=True)
class MobileAgent:
    mode: MobileAgentMode
    dial_number: str


@dataclass(frozen=True, slots=True)
class User:
    """An agent as Finesse sees it: identity, state, sign-in details and settings."""

    login_id: AgentId
    login_name: str = ""
    first_name: str = ""
    last_name: str = ""
    # Empty while the agent is signed out.
    extension: str = ""
    state: AgentState = AgentState.UNKNOWN
    state_change_time: datetime | None = None
    pending_state: AgentState | None = None
    # ``None`` where Finesse says -1 (no reason).
    reason_code_id: ReasonCodeId | None = None
    reason_code: ReasonCode | None = None
    roles: tuple[str, ...] = ()
    settings: WrapUpSettings = WrapUpSettings()
    mobile_agent: MobileAgent | None = None
    team_id: TeamId | None = None
    team_name: str = ""
    active_device_id: DeviceId | None = None
    wrap_up_timer_s: int | None = None
    uri: str = ""

    @property
    def signed_in(self) -> bool:
        return self.state not in (AgentState.LOGOUT, AgentState.UNKNOWN)


@dataclass(frozen=True, slots=True)
class CallVariable:
    """``callVariable1``..``callVariable10`` or an ECC variable ``user.<name>``."""

    name: str
    value: str

    @property
    def is_ecc(self) -> bool:
        return self.name.startswith("user.")


@dataclass(frozen=True, slots=True)
class MediaProperties:
    dialed_number: str = ""
    call_type: str = ""
    dnis: str = ""
    queue_name: str = ""
    wrap_up_reason: str = ""
    call_variables: tuple[CallVariable, ...] = ()

    def variables(self) -> dict[str, str]:
        """Call and ECC variables by name, in document order."""
        return {variable.name: variable.value for variable in self.call_variables}


@dataclass(frozen=True, slots=True)
class Participant:
    media_address: str
    media_address_type: str = ""
    state: str = ""
    state_cause: str = ""
    start_time: datetime | None = None
    # The actions Finesse allows this participant now; offer the app only the agent's own.
    actions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Dialog:
    """A call: its addresses, state, media properties (with call variables) and participants."""

    id: DialogId
    from_address: str = ""
    to_address: str = ""
    state: str = ""
    media_properties: MediaProperties = MediaProperties()
    participants: tuple[Participant, ...] = ()
    associated_dialog_uri: str = ""
    uri: str = ""

    def participant(self, media_address: str) -> Participant | None:
        """The participant at ``media_address`` (the agent's extension), if present."""
        for participant in self.participants:
            if participant.media_address == media_address:
                return participant
        return None


def sharing_unchanged_parts(new: Dialog, old: Dialog) -> Dialog:
    """``new``, equal to it in every field, but holding ``old``'s objects wherever a part (the participants,
    one participant, the media properties, the call variables, one variable) did not change.

    Why: Finesse sends the whole dialog on every change, and the mirror keeps it until the next one. Kept
    as parsed, each notification leaves ~18 fresh container objects alive for about a second; CPython's
    cyclic collector scans every survivor in its young generations, so with 2,000 agents at one change a
    second its young collections grew to ~6,000 objects (3 ms pauses) and its middle ones to 10-20 ms,
    a visible share of the event latency tail (README "Performance"). Sharing what did not change leaves
    ~4 survivors per call-data change; the duplicates parsed this time are freed at once by reference
    counting, without any collection."""
    media, old_media = new.media_properties, old.media_properties
    variables = _sharing_equal_items(media.call_variables, old_media.call_variables)
    if variables is old_media.call_variables and _same_except_variables(media, old_media):
        media = old_media
    else:
        media = MediaProperties(
            dialed_number=media.dialed_number,
            call_type=media.call_type,
            dnis=media.dnis,
            queue_name=media.queue_name,
            wrap_up_reason=media.wrap_up_reason,
            call_variables=variables,
        )
    return Dialog(
        id=new.id,
        from_address=new.from_address,
        to_address=new.to_address,
        state=new.state,
        media_properties=media,
        participants=_sharing_equal_items(new.participants, old.participants),
        associated_dialog_uri=new.associated_dialog_uri,
        uri=new.uri,
    )


def _same_except_variables(new: MediaProperties, old: MediaProperties) -> bool:
    return (
        new.dialed_number == old.dialed_number
        and new.call_type == old.call_type
        and new.dnis == old.dnis
        and new.queue_name == old.queue_name
        and new.wrap_up_reason == old.wrap_up_reason
    )


_Item = TypeVar("_Item")


def _sharing_equal_items(new: tuple[_Item, ...], old: tuple[_Item, ...]) -> tuple[_Item, ...]:
    """``new``, with ``old``'s tuple when equal, else with ``old``'s item at each position where equal."""
    if new == old:
        return old
    if len(new) != len(old):
        return new
    return tuple([was if was == now else now for now, was in zip(new, old, strict=True)])


@dataclass(frozen=True, slots=True)
class Device:
    """One device behind a shared-line / multiline extension."""

    device_id: DeviceId
    device_type: str = ""
    device_type_name: str = ""


@dataclass(frozen=True, slots=True)
class SystemInfo:
    status: str
    deployment_type: str = ""
    xmpp_domain: str = ""
    xmpp_pubsub_domain: str = ""
    primary_node: str = ""
    secondary_node: str = ""
    current_timestamp: datetime | None = None
    system_auth_mode: str = ""

    @property
    def in_service(self) -> bool:
        """Only ``IN_SERVICE`` counts as up; every other status means the side is down."""
        return self.status.upper() == "IN_SERVICE"


@dataclass(frozen=True, slots=True)
class FinesseApiError:
    """One error Finesse reported, synchronously (``<ApiError>``) or in a notification (``<apiError>``)."""

    error_type: str
    error_message: str = ""
    error_data: str = ""
    peripheral_error_code: str = ""
    peripheral_error_msg: str = ""
    peripheral_error_text: str = ""


@dataclass(frozen=True, slots=True)
class DialogList:
    """The data of a dialog POST notification (``<dialogs><Dialog>…``) or of GET …/Dialogs."""

    dialogs: tuple[Dialog, ...]


@dataclass(frozen=True, slots=True)
class ApiErrorList:
    """The data of an asynchronous error notification."""

    errors: tuple[FinesseApiError, ...]


@dataclass(frozen=True, slots=True)
class UnknownData:
    """Data this client does not model (``tag`` is "" when the data element is empty or missing)."""

    tag: str


UpdateData = User | Dialog | DialogList | SystemInfo | ApiErrorList | UnknownData


class UpdateEvent(StrEnum):
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class Update:
    """One notification: what happened (``event``) to which object (``source``), and its current data.

    ``request_id`` is the ``requestId`` header of the REST call that caused it, ``None`` for unsolicited
    events.
    """

    event: UpdateEvent
    source: str
    data: UpdateData
    request_id: RequestId | None = None
