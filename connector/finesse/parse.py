"""Finesse XML → models: the REST bodies and the notification ``Update`` document.

Every function takes the untrusted document as text or bytes, parses it through
:func:`connector.finesse.xmltree.parse_document` (hardened, bounded) and raises only
:class:`~connector.finesse.errors.FinesseProtocolError`. Element names match in any case; unknown
elements are ignored and missing optional ones get the models' defaults.
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from connector.finesse.errors import FinesseProtocolError
from connector.finesse.ids import AgentId, DeviceId, DialogId, ReasonCodeId, RequestId, TeamId, WrapUpReasonId
from connector.finesse.models import (
    AgentState,
    ApiErrorList,
    CallVariable,
    Device,
    Dialog,
    DialogList,
    FinesseApiError,
    MediaProperties,
    MobileAgent,
    MobileAgentMode,
    Participant,
    ReasonCode,
    SystemInfo,
    UnknownData,
    Update,
    UpdateData,
    UpdateEvent,
    User,
    WrapUpReason,
    WrapUpSettings,
)
from connector.finesse.participant_memo import MemoReading, ParticipantMemo
from connector.finesse.xmltree import (
    DEFAULT_LIMITS,
    XmlLimits,
    boolean,
    child,
    children,
    expect_root,
    first_children,
    integer,
    last_uri_segment,
    own_text,
    parse_document,
    raw_text,
    text,
)

# --- documents ---------------------------------------------------------------------------------------


def parse_update(
    document: str | bytes, *, limits: XmlLimits = DEFAULT_LIMITS, memo: ParticipantMemo | None = None
) -> Update:
    """A notification's (already unescaped) text → :class:`Update`.

    ``event`` is accepted in any case (``put`` and ``PUT`` are both seen); an empty ``requestId`` means an
    unsolicited event and becomes ``None``. With ``memo`` (one per agent session), participants read
    before are not parsed again (see :mod:`connector.finesse.participant_memo`); the result and the
    errors are the same as without.
    """
    # A character is at most 4 bytes: the size limit cannot be crossed by a document the memo shortens.
    if memo is None or not isinstance(document, str) or len(document) * 4 > limits.max_bytes:
        return _update_from(parse_document(document, limits=limits), None)
    stood_in = memo.stand_in(document)
    if stood_in is not None:
        reading = MemoReading(stood_in.known, limits.max_depth)
        try:
            update = _update_from(parse_document(stood_in.document, limits=limits), reading)
        except FinesseProtocolError:
            pass  # the plain parse below says what is wrong (or finds nothing wrong)
        else:
            if reading.complete:
                memo.learn(document, reading)
                return update
    reading = MemoReading([], limits.max_depth)
    update = _update_from(parse_document(document, limits=limits), reading)
    memo.learn(document, reading)
    return update


def _update_from(root: Element, reading: MemoReading | None) -> Update:
    root = expect_root(root, "update")
    event_name = text(root, "event").upper()
    try:
        event = UpdateEvent(event_name)
    except ValueError:
        raise FinesseProtocolError("finesse_xml_unexpected", f"unknown event {event_name[:20]!r}") from None
    request_id = text(root, "requestid")
    return Update(
        event=event,
        source=text(root, "source"),
        data=_update_data(child(root, "data"), reading),
        request_id=RequestId(request_id) if request_id else None,
    )


def parse_user(document: str | bytes, *, limits: XmlLimits = DEFAULT_LIMITS) -> User:
    """``GET /finesse/api/User/{id}`` → :class:`User`."""
    return user_from(expect_root(parse_document(document, limits=limits), "user"))


def parse_dialog(document: str | bytes, *, limits: XmlLimits = DEFAULT_LIMITS) -> Dialog:
    """``GET /finesse/api/Dialog/{id}`` → :class:`Dialog`."""
    return dialog_from(expect_root(parse_document(document, limits=limits), "dialog"))


def parse_dialogs(document: str | bytes, *, limits: XmlLimits = DEFAULT_LIMITS) -> tuple[Dialog, ...]:
    """``GET /finesse/api/User/{id}/Dialogs`` → the agent's dialogs."""
    root = expect_root(parse_document(document, limits=limits), "dialogs")
    return tuple(dialog_from(element) for element in children(root, "dialog"))


def parse_reason_codes(
    document: str | bytes, *, limits: XmlLimits = DEFAULT_LIMITS
) -> tuple[ReasonCode, ...]:
    """``GET /finesse/api/User/{id}/ReasonCodes?category=…`` → the reason codes, in Finesse's order."""
    root = expect_root(parse_document(document, limits=limits), "reasoncodes")
    return tuple(reason_code_from(element) for element in children(root, "reasoncode"))


def parse_wrap_up_reasons(
    document: str | bytes, *, limits: XmlLimits = DEFAULT_LIMITS
) -> tuple[WrapUpReason, ...]:
    """``GET /finesse/api/User/{id}/WrapUpReasons`` → the wrap-up reasons, in Finesse's order."""
    root = expect_root(parse_document(document, limits=limits), "wrapupreasons")
    return tuple(wrap_up_reason_from(element) for element in children(root, "wrapupreason"))


def parse_devices(document: str | bytes, *, limits: XmlLimits = DEFAULT_LIMITS) -> tuple[Device, ...]:
    """The devices list of a shared-line / multiline extension → :class:`Device` values."""
    root = expect_root(parse_document(document, limits=limits), "devices")
    return tuple(device_from(element) for element in children(root, "device"))


def parse_system_info(document: str | bytes, *, limits: XmlLimits = DEFAULT_LIMITS) -> SystemInfo:
    """``GET /finesse/api/SystemInfo`` → :class:`SystemInfo`."""
    return system_info_from(expect_root(parse_document(document, limits=limits), "systeminfo"))


def parse_api_errors(
    document: str | bytes, *, limits: XmlLimits = DEFAULT_LIMITS
) -> tuple[FinesseApiError, ...]:
    """A synchronous error body (``<ApiErrors><ApiError>…``) → its errors (at least one)."""
    errors = api_errors_from(expect_root(parse_document(document, limits=limits), "apierrors"))
    if not errors:
        raise FinesseProtocolError("finesse_xml_unexpected", "<ApiErrors> without <ApiError>")
    return errors


# --- elements (of a normalised tree, see connector.finesse.xmltree) -----------------------------------


def _update_data(data: Element | None, reading: MemoReading | None = None) -> UpdateData:
    # Depths (the root <Update> at 1) matter to the memo's reading: data 2, its payload 3.
    payload = None if data is None else next(iter(data), None)
    if payload is None:
        return UnknownData(tag="")
    match payload.tag:
        case "user":
            return user_from(payload)
        case "dialog":
            return dialog_from(payload, reading, depth=3)
        case "dialogs":
            return DialogList(
                tuple(dialog_from(element, reading, depth=4) for element in children(payload, "dialog"))
            )
        case "systeminfo":
            return system_info_from(payload)
        case "apierrors":
            return ApiErrorList(api_errors_from(payload))
        case other:
            return UnknownData(tag=other[:64])


def user_from(element: Element) -> User:
    login_id = text(element, "loginid") or last_uri_segment(text(element, "uri"))
    if not login_id:
        raise FinesseProtocolError("finesse_xml_unexpected", "<User> without <loginId>")
    reason_code_id = text(element, "reasoncodeid")
    reason_code = child(element, "reasoncode")
    settings = child(element, "settings")
    pending_state = text(element, "pendingstate")
    team_id = text(element, "teamid")
    active_device_id = text(element, "activedeviceid")
    return User(
        login_id=AgentId(login_id),
        login_name=text(element, "loginname"),
        first_name=raw_text(element, "firstname"),
        last_name=raw_text(element, "lastname"),
        extension=text(element, "extension"),
        state=AgentState.parse(text(element, "state")),
        state_change_time=_timestamp(text(element, "statechangetime")),
        pending_state=AgentState.parse(pending_state) if pending_state else None,
        reason_code_id=None if reason_code_id in ("", "-1") else ReasonCodeId(reason_code_id),
        reason_code=None if reason_code is None else reason_code_from(reason_code),
        roles=tuple(own_text(role) for role in children(child(element, "roles"), "role")),
        settings=WrapUpSettings(
            wrap_up_on_incoming=text(settings, "wrapuponincoming"),
            wrap_up_on_outgoing=text(settings, "wrapuponoutgoing"),
        )
        if settings is not None
        else WrapUpSettings(),
        mobile_agent=_mobile_agent(child(element, "mobileagent")),
        team_id=TeamId(team_id) if team_id else None,
        team_name=raw_text(element, "teamname"),
        active_device_id=DeviceId(active_device_id) if active_device_id else None,
        wrap_up_timer_s=integer(element, "wrapuptimer"),
        uri=text(element, "uri"),
    )


def _mobile_agent(element: Element | None) -> MobileAgent | None:
    if element is None:
        return None
    mode = text(element, "mode").upper()
    if not mode:
        return None
    try:
        return MobileAgent(mode=MobileAgentMode(mode), dial_number=text(element, "dialnumber"))
    except ValueError:
        detail = f"unknown mobile agent mode {mode[:30]!r}"
        raise FinesseProtocolError("finesse_xml_unexpected", detail) from None


def reason_code_from(element: Element) -> ReasonCode:
    uri = text(element, "uri")
    return ReasonCode(
        id=ReasonCodeId(text(element, "id") or last_uri_segment(uri)),
        category=text(element, "category").upper(),
        code=integer(element, "code"),
        label=raw_text(element, "label"),
        for_all=boolean(element, "forall"),
        uri=uri,
        system_code=boolean(element, "systemcode"),
    )


def wrap_up_reason_from(element: Element) -> WrapUpReason:
    uri = text(element, "uri")
    return WrapUpReason(
        id=WrapUpReasonId(text(element, "id") or last_uri_segment(uri)),
        label=raw_text(element, "label"),
        for_all=boolean(element, "forall"),
        uri=uri,
    )


def device_from(element: Element) -> Device:
    return Device(
        device_id=DeviceId(text(element, "deviceid")),
        device_type=text(element, "devicetype"),
        device_type_name=raw_text(element, "devicetypename"),
    )


def dialog_from(element: Element, reading: MemoReading | None = None, *, depth: int = 0) -> Dialog:
    """``reading`` (with the dialog element's ``depth``): a parse with the participant memo."""
    fields = first_children(element)
    uri = _text(fields, "uri")
    dialog_id = _text(fields, "id") or last_uri_segment(uri)
    if not dialog_id:
        raise FinesseProtocolError("finesse_xml_unexpected", "<Dialog> without <id>")
    return Dialog(
        id=DialogId(dialog_id),
        from_address=_text(fields, "fromaddress"),
        to_address=_text(fields, "toaddress"),
        state=_text(fields, "state").upper(),
        media_properties=_media_properties(fields.get("mediaproperties")),
        participants=_participants(fields.get("participants"), reading, depth + 2),
        associated_dialog_uri=_text(fields, "associateddialoguri"),
        uri=uri,
    )


def _media_properties(element: Element | None) -> MediaProperties:
    if element is None:
        return MediaProperties()
    fields = first_children(element)
    return MediaProperties(
        dialed_number=_text(fields, "dialednumber"),
        call_type=_text(fields, "calltype"),
        dnis=_text(fields, "dnis"),
        queue_name=_raw_text(fields, "queuename"),
        wrap_up_reason=_raw_text(fields, "wrapupreason"),
        call_variables=_call_variables(fields.get("callvariables")),
    )


def _call_variables(element: Element | None) -> tuple[CallVariable, ...]:
    variables = []
    for variable in children(element, "callvariable"):
        # Two fields: two finds (a scan in C each) cost less than building first_children's dict.
        name_element = variable.find("name")
        name = "" if name_element is None or name_element.text is None else name_element.text.strip()
        if name:
            value_element = variable.find("value")
            value = "" if value_element is None or value_element.text is None else value_element.text
            variables.append(CallVariable(name=name, value=value))
    return tuple(variables)


def _participants(
    element: Element | None, reading: MemoReading | None, depth: int
) -> tuple[Participant, ...]:
    if reading is None:
        return tuple(_participant(participant) for participant in children(element, "participant"))
    return tuple(
        reading.stood_in(participant, depth) or reading.read(participant, _participant(participant))
        for participant in children(element, "participant")
    )


def _participant(element: Element) -> Participant:
    fields = first_children(element)
    return Participant(
        media_address=_text(fields, "mediaaddress"),
        media_address_type=_text(fields, "mediaaddresstype"),
        state=_text(fields, "state").upper(),
        state_cause=_text(fields, "statecause"),
        start_time=_timestamp(_text(fields, "starttime")),
        actions=tuple(
            action
            for action in (own_text(a).upper() for a in children(fields.get("actions"), "action"))
            if action
        ),
    )


def system_info_from(element: Element) -> SystemInfo:
    primary = child(element, "primarynode")
    secondary = child(element, "secondarynode")
    return SystemInfo(
        status=text(element, "status").upper(),
        deployment_type=text(element, "deploymenttype"),
        xmpp_domain=text(element, "xmppdomain"),
        xmpp_pubsub_domain=text(element, "xmpppubsubdomain"),
        primary_node="" if primary is None else text(primary, "host"),
        secondary_node="" if secondary is None else text(secondary, "host"),
        current_timestamp=_timestamp(text(element, "currenttimestamp")),
        system_auth_mode=text(element, "systemauthmode"),
    )


def api_errors_from(element: Element) -> tuple[FinesseApiError, ...]:
    return tuple(
        FinesseApiError(
            error_type=raw_text(error, "errortype").strip(),
            error_message=raw_text(error, "errormessage").strip(),
            error_data=raw_text(error, "errordata").strip(),
            peripheral_error_code=text(error, "peripheralerrorcode"),
            peripheral_error_msg=raw_text(error, "peripheralerrormsg").strip(),
            peripheral_error_text=raw_text(error, "peripheralerrortext").strip(),
        )
        for error in children(element, "apierror")
    )


# Dialogs are the hot path (a call-data change is a whole dialog, tens of fields): their elements are read
# through one pass over each element's children (``first_children``) and these two lookups.


def _raw_text(fields: dict[str, Element], name: str) -> str:
    element = fields.get(name)
    return "" if element is None or element.text is None else element.text


def _text(fields: dict[str, Element], name: str) -> str:
    element = fields.get(name)
    return "" if element is None or element.text is None else element.text.strip()


def _timestamp(value: str) -> datetime | None:
    """ISO 8601 (``2023-01-13T11:07:11.466Z``) or epoch milliseconds; ``None`` when absent or unreadable:
    a timestamp is informative, never worth rejecting a whole notification over."""
    if not value:
        return None
    try:
        if value.isdigit():
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        return datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError):
        return None
