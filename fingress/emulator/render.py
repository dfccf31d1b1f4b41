"""Finesse's XML documents, one function per concept, built with ElementTree (so every value is escaped),
except the hot ones (the Dialog and the ``<Update>`` wrapper of every notification), written as text by
:mod:`.xml_text` with the same escaping.

Element names and order follow Finesse 12.5 as captured in ``../shared/finesse-captures/``: REST bodies use
capitalised roots (``<User>``), notifications wrap the same children in lower-case ``<user>`` inside an
``<Update>`` document.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from edge.tunnel.errors import ApiError

from . import config
from .errors import AsyncError
from .model import Agent, Dialog, Participant
from .xml_text import leaf, parent


def serialize(element: ET.Element) -> str:
    return ET.tostring(element, encoding="unicode")


def finesse_time(moment: datetime) -> str:
    """Finesse's timestamp form: ``2023-01-13T11:07:11.466Z`` (the clock's own fields, milliseconds
    truncated; the emulator's clocks are UTC)."""
    # isoformat is C code: a tenth of the cost of strftime and f-string formatting.
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _add(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    child = ET.SubElement(parent, tag)
    if text is not None:
        child.text = text
    return child


def user_uri(agent_id: str) -> str:
    return f"/finesse/api/User/{agent_id}"


def dialogs_uri(agent_id: str) -> str:
    return f"/finesse/api/User/{agent_id}/Dialogs"


SYSTEM_INFO_URI = "/finesse/api/SystemInfo"


def reason_code_element(code: config.ReasonCode, tag: str = "ReasonCode") -> ET.Element:
    element = ET.Element(tag)
    _add(element, "category", code.category)
    _add(element, "code", str(code.code))
    _add(element, "forAll", "true" if code.for_all else "false")
    _add(element, "id", str(code.id))
    _add(element, "label", code.label)
    _add(element, "uri", f"/finesse/api/ReasonCode/{code.id}")
    return element


def reason_codes_document(codes: Iterable[config.ReasonCode]) -> str:
    root = ET.Element("ReasonCodes")
    for code in codes:
        root.append(reason_code_element(code))
    return serialize(root)


def wrap_up_reasons_document(reasons: Iterable[config.WrapUpReason]) -> str:
    root = ET.Element("WrapUpReasons")
    for reason in reasons:
        element = _add(root, "WrapUpReason")
        _add(element, "forAll", "true" if reason.for_all else "false")
        _add(element, "id", str(reason.id))
        _add(element, "label", reason.label)
        _add(element, "uri", f"/finesse/api/WrapUpReason/{reason.id}")
    return serialize(root)


def devices_document(devices: Iterable[config.Device]) -> str:
    root = ET.Element("Devices")
    for device in devices:
        element = _add(root, "Device")
        _add(element, "deviceId", device.device_id)
        _add(element, "deviceType", device.device_type)
        _add(element, "deviceTypeName", device.device_type_name)
    return serialize(root)


def user_element(
    agent: Agent, *, team: config.Team, supervised: Sequence[config.Team], tag: str
) -> ET.Element:
    """The User object; ``tag`` is ``User`` for REST and ``user`` inside notifications."""
    profile = agent.profile
    element = ET.Element(tag)
    if agent.device_id:
        _add(element, "activeDeviceId", agent.device_id)
    _add(element, "dialogs", dialogs_uri(agent.id))
    _add(element, "extension", agent.extension)
    _add(element, "firstName", profile.first_name)
    _add(element, "lastName", profile.last_name)
    _add(element, "loginId", agent.id)
    _add(element, "loginName", profile.login_name)
    _add(element, "mediaType", "1")
    if agent.mobile_agent is not None:
        mobile = _add(element, "mobileAgent")
        _add(mobile, "mode", agent.mobile_agent.mode)
        _add(mobile, "dialNumber", agent.mobile_agent.dial_number)
    _add(element, "pendingState", agent.pending_state)
    # Finesse leaves reasonCodeId out while READY (see the ready capture) and sends -1 for "no reason".
    if agent.state != "READY":
        _add(element, "reasonCodeId", str(agent.reason.id) if agent.reason is not None else "-1")
        if agent.reason is not None:
            element.append(reason_code_element(agent.reason))
    roles = _add(element, "roles")
    for role in profile.roles:
        _add(roles, "role", role)
    settings = _add(element, "settings")
    _add(settings, "wrapUpOnIncoming", profile.wrap_up_on_incoming)
    _add(settings, "wrapUpOnOutgoing", profile.wrap_up_on_outgoing)
    _add(element, "state", agent.state)
    _add(element, "stateChangeTime", finesse_time(agent.state_change_time))
    _add(element, "teamId", str(team.id))
    _add(element, "teamName", team.name)
    teams = _add(element, "teams")
    for supervised_team in supervised:
        team_element = _add(teams, "Team")
        _add(team_element, "id", str(supervised_team.id))
        _add(team_element, "name", supervised_team.name)
        _add(team_element, "uri", f"/finesse/api/Team/{supervised_team.id}")
    _add(element, "uri", user_uri(agent.id))
    _add(element, "wrapUpTimer", str(agent.wrap_up_timer_s))
    return element


ActionsOf = Callable[[Dialog, Participant], Sequence[str]]


def participant_text(
    media_address: str,
    media_address_type: str,
    start_time: datetime,
    state: str,
    state_cause: str,
    state_change_time: datetime,
    actions: tuple[str, ...],
) -> str:
    """One ``<Participant>`` of a Dialog: a function of these values alone, so that it can be cached."""
    return "".join(
        (
            "<Participant>",
            parent("actions", "".join([leaf("action", action) for action in actions])),
            leaf("mediaAddress", media_address),
            leaf("mediaAddressType", media_address_type),
            leaf("startTime", finesse_time(start_time)),
            leaf("state", state),
            leaf("stateCause", state_cause),
            leaf("stateChangeTime", finesse_time(state_change_time)),
            "</Participant>",
        )
    )


ParticipantText = Callable[[str, str, datetime, str, str, datetime, tuple[str, ...]], str]


def dialog_text(
    dialog: Dialog,
    *,
    actions_of: ActionsOf,
    viewer: str,
    tag: str = "Dialog",
    participant_writer: ParticipantText = participant_text,
) -> str:
    """The Dialog as ``viewer`` (an agent id) sees it: wrap-up is personal, so another agent still wrapping
    up a call that goes on (after a transfer) is left out. Written as text (see :mod:`.xml_text`): every
    call-data change publishes one; :class:`DialogWriter` passes a caching ``participant_writer``."""
    consult_uri = f"/finesse/api/Dialog/{dialog.consult_of}" if dialog.consult_of else ""
    variables = "".join(
        [
            f"<CallVariable>{leaf('name', name)}{leaf('value', value)}</CallVariable>"
            for name, value in dialog.call_variables.items()
        ]
    )
    participants = "".join(
        [
            participant_writer(
                participant.media_address,
                participant.media_address_type,
                participant.start_time,
                participant.state,
                participant.state_cause,
                participant.state_change_time,
                tuple(actions_of(dialog, participant)),
            )
            for participant in dialog.participants
            if participant.state != "WRAP_UP" or participant.agent_id == viewer
        ]
    )
    return "".join(
        (
            f"<{tag}>",
            leaf("associatedDialogUri", consult_uri),
            leaf("fromAddress", dialog.from_address),
            leaf("id", dialog.id),
            "<mediaProperties>",
            leaf("DNIS", dialog.dnis),
            leaf("callType", dialog.call_type),
            leaf("dialedNumber", dialog.dialed_number),
            parent("callvariables", variables),
            leaf("queueName", dialog.queue_name),
            leaf("wrapUpReason", dialog.wrap_up_reason),
            "</mediaProperties><mediaType>Voice</mediaType>",
            parent("participants", participants),
            leaf("state", dialog.state),
            leaf("toAddress", dialog.to_address),
            leaf("uri", dialog.uri),
            f"</{tag}>",
        )
    )


class DialogWriter:
    """Writes Dialog documents for notifications, remembering the text of the last ``cached_participants``
    participants: a call-data change leaves every participant as it was, and a participant is most of
    a Dialog's text."""

    def __init__(self, *, actions_of: ActionsOf, cached_participants: int = 8192) -> None:
        self._actions_of = actions_of
        self._participant: ParticipantText = functools.lru_cache(maxsize=cached_participants)(
            participant_text
        )

    def dialog_text(self, dialog: Dialog, *, viewer: str) -> str:
        return dialog_text(
            dialog, actions_of=self._actions_of, viewer=viewer, participant_writer=self._participant
        )


def dialogs_document(dialogs: Iterable[Dialog], *, actions_of: ActionsOf, viewer: str) -> str:
    return parent(
        "Dialogs", "".join(dialog_text(dialog, actions_of=actions_of, viewer=viewer) for dialog in dialogs)
    )


def system_info_element(
    *,
    status: str,
    deployment_type: str,
    system_auth_mode: str,
    xmpp_domain: str,
    primary_host: str,
    secondary_host: str,
    now: datetime,
) -> ET.Element:
    element = ET.Element("SystemInfo")
    _add(element, "currentTimestamp", finesse_time(now))
    _add(element, "deploymentType", deployment_type)
    _add(_add(element, "primaryNode"), "host", primary_host)
    _add(_add(element, "secondaryNode"), "host", secondary_host)
    _add(element, "status", status)
    _add(element, "systemAuthMode", system_auth_mode)
    _add(element, "timezoneOffset", "0")
    _add(element, "uri", SYSTEM_INFO_URI)
    _add(element, "xmppDomain", xmpp_domain)
    _add(element, "xmppPubSubDomain", f"pubsub.{xmpp_domain}")
    return element


def api_errors_element(error: AsyncError) -> ET.Element:
    """``apiErrors/apiError`` as Finesse publishes an asynchronous failure (field order of the captures)."""
    errors = ET.Element("apiErrors")
    item = _add(errors, "apiError")
    if error.peripheral_error_code:
        _add(item, "peripheralErrorCode", error.peripheral_error_code)
    _add(item, "errorType", error.error_type)
    _add(item, "errorMessage", error.error_message)
    if error.peripheral_error_text:
        _add(item, "peripheralErrorText", error.peripheral_error_text)
    if error.peripheral_error_msg:
        _add(item, "peripheralErrorMsg", error.peripheral_error_msg)
    _add(item, "errorData", error.error_data)
    return errors


def update_document(data: str, *, event: str, request_id: str, source: str) -> str:
    """An ``<Update>`` notification for an object (User, Dialog(s), SystemInfo) whose XML is ``data``."""
    return (
        f"<Update>{parent('data', data)}"
        + leaf("event", event)
        + leaf("requestId", request_id)
        + leaf("source", source)
        + "</Update>"
    )


def error_update_document(error: AsyncError, *, request_id: str, source: str) -> str:
    """An ``<Update>`` carrying an asynchronous error; Finesse orders these differently and sends ``put``."""
    root = ET.Element("Update")
    _add(root, "data").append(api_errors_element(error))
    _add(root, "requestId", request_id)
    _add(root, "source", source)
    _add(root, "event", "put")
    return serialize(root)


def sync_error_document(error: ApiError) -> str:
    """``<ApiErrors><ApiError><ErrorType/><ErrorMessage/><ErrorData/></ApiError></ApiErrors>``."""
    root = ET.Element("ApiErrors")
    item = _add(root, "ApiError")
    _add(item, "ErrorType", str(error.extra.get("error_type", "Error")))
    _add(item, "ErrorMessage", error.detail)
    _add(item, "ErrorData", str(error.extra.get("error_data", "")))
    return serialize(root)
