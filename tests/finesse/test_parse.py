"""REST bodies and notifications → models: values, casing, defaults, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.finesse.errors import FinesseProtocolError
from connector.finesse.ids import AgentId, DeviceId, DialogId, ReasonCodeId, WrapUpReasonId
from connector.finesse.models import (
    AgentState,
    ApiErrorList,
    CallVariable,
    Device,
    Dialog,
    DialogList,
    MobileAgent,
    MobileAgentMode,
    ReasonCode,
    SystemInfo,
    UnknownData,
    UpdateEvent,
    User,
    WrapUpReason,
)
from connector.finesse.parse import (
    parse_api_errors,
    parse_devices,
    parse_dialog,
    parse_dialogs,
    parse_reason_codes,
    parse_system_info,
    parse_update,
    parse_user,
    parse_wrap_up_reasons,
)
from connector.finesse.xmltree import XmlLimits
from tests.finesse import documents


def test_rest_user_with_every_field() -> None:
    user = parse_user(documents.USER_REST)
    assert user.login_id == "1001"
    assert user.first_name == "Ann & Co"
    assert user.extension == "1001001"
    assert user.state is AgentState.TALKING
    assert user.pending_state is AgentState.READY
    assert user.reason_code_id == "16"
    assert user.reason_code == ReasonCode(
        id=ReasonCodeId("16"),
        category="NOT_READY",
        code=32762,
        label="Lunch",
        uri="/finesse/api/ReasonCode/16",
    )
    assert user.mobile_agent == MobileAgent(MobileAgentMode.NAILED_CONNECTION, "+420123456789")
    assert user.settings.wrap_up_on_incoming == "REQUIRED"
    assert user.settings.wrap_up_on_outgoing == "NOT_ALLOWED"
    assert user.active_device_id == "SEP0011"
    assert user.team_id == "7"
    assert user.wrap_up_timer_s == 60
    assert user.state_change_time == datetime(2026, 11, 21, 10, 0, 0, 123000, tzinfo=UTC)


def test_user_missing_optional_fields_gets_defaults() -> None:
    user = parse_user(b"<User><loginId>7</loginId></User>")
    assert user == User(login_id=AgentId("7"))
    assert user.state is AgentState.UNKNOWN
    assert not user.signed_in


def test_user_id_falls_back_to_uri_and_unknown_state_is_unknown() -> None:
    user = parse_user(b"<user><uri>/finesse/api/User/55</uri><state>ON_MARS</state></user>")
    assert user.login_id == "55"
    assert user.state is AgentState.UNKNOWN


def test_user_without_any_id_is_refused() -> None:
    with pytest.raises(FinesseProtocolError) as caught:
        parse_user(b"<User><state>READY</state></User>")
    assert caught.value.reason == "finesse_xml_unexpected"


def test_element_names_match_in_any_case_and_any_namespace() -> None:
    body = (
        b'<USER xmlns="urn:example"><LOGINID>9</LOGINID><State>ready</State>'
        b"<ROLES><Role>Agent</Role></ROLES><reasoncodeid>-1</reasoncodeid></USER>"
    )
    user = parse_user(body)
    assert (user.login_id, user.state, user.roles, user.reason_code_id) == (
        "9",
        AgentState.READY,
        ("Agent",),
        None,
    )


def test_bad_integer_is_a_protocol_error() -> None:
    with pytest.raises(FinesseProtocolError):
        parse_user(b"<User><loginId>1</loginId><wrapUpTimer>soon</wrapUpTimer></User>")


def test_unknown_mobile_agent_mode_is_refused_but_empty_means_none() -> None:
    with pytest.raises(FinesseProtocolError):
        parse_user(b"<User><loginId>1</loginId><mobileAgent><mode>TELEPATHY</mode></mobileAgent></User>")
    user = parse_user(b"<User><loginId>1</loginId><mobileAgent><mode/><dialNumber/></mobileAgent></User>")
    assert user.mobile_agent is None


def test_dialog_with_participants_and_variables() -> None:
    dialog = parse_dialog(documents.DIALOG_REST)
    assert dialog.id == "16817"
    assert (dialog.from_address, dialog.to_address, dialog.state) == ("5551234", "1001001", "ACTIVE")
    media = dialog.media_properties
    assert (media.dialed_number, media.call_type, media.dnis, media.queue_name) == (
        "8000",
        "ACD_IN",
        "1001001",
        "Support",
    )
    assert media.wrap_up_reason == "Resolved"
    assert media.call_variables == (
        CallVariable("callVariable1", "order 42"),
        CallVariable("callVariable2", ""),
        CallVariable("user.customer.tier", " gold "),
    )
    assert media.variables()["user.customer.tier"] == " gold "
    assert [variable.is_ecc for variable in media.call_variables] == [False, False, True]
    agent = dialog.participant("1001001")
    assert agent is not None
    assert agent.actions == ("HOLD", "DROP", "UPDATE_CALL_DATA")
    assert agent.media_address_type == "AGENT_DEVICE"
    assert agent.start_time == datetime(2026, 11, 21, 10, 0, 1, tzinfo=UTC)
    customer = dialog.participant("5551234")
    assert customer is not None
    assert customer.actions == ()
    assert customer.start_time == datetime.fromtimestamp(1763719201, tz=UTC)
    assert dialog.participant("nobody") is None


def test_dialog_list_and_id_from_uri() -> None:
    dialogs = parse_dialogs(documents.DIALOGS_REST)
    assert [dialog.id for dialog in dialogs] == ["16817", "99"]
    assert dialogs[1] == Dialog(id=DialogId("99"), uri="/finesse/api/Dialog/99")
    assert parse_dialogs(b"<Dialogs/>") == ()


def test_reason_codes_take_their_id_from_the_uri() -> None:
    codes = parse_reason_codes(documents.REASON_CODES_REST)
    assert codes == (
        ReasonCode(
            id=ReasonCodeId("16"),
            category="NOT_READY",
            code=32762,
            label="Lunch",
            for_all=True,
            uri="/finesse/api/ReasonCode/16",
        ),
        ReasonCode(
            id=ReasonCodeId("17"),
            category="NOT_READY",
            code=2,
            label="Meeting <weekly>",
            for_all=False,
            uri="/finesse/api/ReasonCode/17/",
        ),
    )


def test_wrap_up_reasons_devices_system_info() -> None:
    assert parse_wrap_up_reasons(documents.WRAP_UP_REASONS_REST) == (
        WrapUpReason(
            id=WrapUpReasonId("3"), label="Resolved", for_all=True, uri="/finesse/api/WrapUpReason/3"
        ),
        WrapUpReason(
            id=WrapUpReasonId("4"), label="Call back", for_all=False, uri="/finesse/api/WrapUpReason/4"
        ),
    )
    assert parse_devices(documents.DEVICES_REST) == (
        Device(DeviceId("SEP0011"), "Cisco 8865", "Desk"),
        Device(DeviceId("CSFANN"), "Cisco Jabber", "Soft"),
    )
    info = parse_system_info(documents.SYSTEM_INFO_REST)
    assert info == SystemInfo(
        status="IN_SERVICE",
        deployment_type="UCCE",
        xmpp_domain="finesse-a.lan",
        xmpp_pubsub_domain="pubsub.finesse-a.lan",
        primary_node="finesse-a.lan",
        secondary_node="finesse-b.lan",
        current_timestamp=datetime(2026, 11, 21, 10, tzinfo=UTC),
        system_auth_mode="NON_SSO",
    )
    assert info.in_service
    assert not SystemInfo(status="OUT_OF_SERVICE").in_service
    assert not SystemInfo(status="PARTIAL_SERVICE").in_service


def test_sync_api_errors() -> None:
    (error,) = parse_api_errors(documents.api_errors("Parameter Missing", "reasonCodeId is required", "x"))
    assert (error.error_type, error.error_message, error.error_data) == (
        "Parameter Missing",
        "reasonCodeId is required",
        "x",
    )
    with pytest.raises(FinesseProtocolError):
        parse_api_errors(b"<ApiErrors/>")


def test_dialog_notifications_post_put_delete() -> None:
    dialog = documents.DIALOG_REST.decode()
    posted = parse_update(
        documents.update(
            f"<dialogs>{dialog}</dialogs>", event="POST", source="/finesse/api/User/1001/Dialogs"
        )
    )
    assert posted.event is UpdateEvent.POST
    assert isinstance(posted.data, DialogList)
    assert [d.id for d in posted.data.dialogs] == ["16817"]
    changed = parse_update(documents.update(dialog, event="put", source="/finesse/api/Dialog/16817"))
    assert changed.event is UpdateEvent.PUT
    assert isinstance(changed.data, Dialog)
    removed = parse_update(documents.update(dialog, event="Delete", request_id="r-1"))
    assert removed.event is UpdateEvent.DELETE
    assert removed.request_id == "r-1"


def test_system_info_and_unknown_notifications() -> None:
    info = parse_update(documents.update(documents.SYSTEM_INFO_REST.decode().split("?>")[-1]))
    assert isinstance(info.data, SystemInfo)
    assert parse_update(documents.update("<Team><id>1</id></Team>")).data == UnknownData("team")
    assert parse_update(documents.update("")).data == UnknownData("")
    assert parse_update("<Update><event>PUT</event></Update>").data == UnknownData("")
    errors = parse_update(
        documents.update("<apiErrors><apiError><errorType>Device Busy</errorType></apiError></apiErrors>")
    )
    assert isinstance(errors.data, ApiErrorList)
    assert errors.data.errors[0].error_type == "Device Busy"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("", "finesse_xml_malformed"),
        ("not xml at all", "finesse_xml_malformed"),
        ("<Update><event>PUT</event>", "finesse_xml_malformed"),
        ("<Update><event>PATCH</event></Update>", "finesse_xml_unexpected"),
        ("<Update></Update>", "finesse_xml_unexpected"),
        ("<User><loginId>1</loginId></User>", "finesse_xml_unexpected"),
        (
            '<!DOCTYPE Update [<!ENTITY a "aaaa">]><Update><event>&a;</event></Update>',
            "finesse_xml_forbidden",
        ),
        (
            '<!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]><Update><event>&x;</event></Update>',
            "finesse_xml_forbidden",
        ),
        ("<Update>" + "<a>" * 40 + "</a>" * 40 + "</Update>", "finesse_xml_too_deep"),
        (
            "<Update><event>PUT</event><source>" + "x" * 2_000_000 + "</source></Update>",
            "finesse_xml_too_large",
        ),
        ("<Update><event>PUT</event></Update><Update/>", "finesse_xml_malformed"),
        ("<Update><event>PUT\x00</event></Update>", "finesse_xml_malformed"),
        ("<Update><event>\ud800</event></Update>", "finesse_xml_malformed"),
    ],
)
def test_hostile_notifications_are_refused_with_a_reason(document: str, reason: str) -> None:
    with pytest.raises(FinesseProtocolError) as caught:
        parse_update(document)
    assert caught.value.reason == reason


def test_billion_laughs_is_refused_before_expansion() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "&lol;" * 10}">' for i in range(9)
        )
        + "]><Update><event>&lol8;</event></Update>"
    )
    with pytest.raises(FinesseProtocolError) as caught:
        parse_update(bomb)
    assert caught.value.reason == "finesse_xml_forbidden"


def test_limits_are_configurable() -> None:
    document = documents.update("<user><loginId>1</loginId></user>")
    with pytest.raises(FinesseProtocolError) as caught:
        parse_update(document, limits=XmlLimits(max_bytes=20))
    assert caught.value.reason == "finesse_xml_too_large"
    with pytest.raises(FinesseProtocolError) as caught:
        parse_update(document, limits=XmlLimits(max_depth=2))
    assert caught.value.reason == "finesse_xml_too_deep"
    assert isinstance(parse_update(document, limits=XmlLimits(max_depth=4)).data, User)


def test_xml_declaration_after_leading_whitespace_is_accepted() -> None:
    update = parse_update('\n   <?xml version="1.0" encoding="UTF-8"?>' + documents.update(""))
    assert update.event is UpdateEvent.PUT


def test_size_limit_counts_utf8_bytes_exactly() -> None:
    document = "<Update><event>PUT</event><source>" + "€" * 30 + "</source></Update>"
    size = len(document.encode())
    assert parse_update(document, limits=XmlLimits(max_bytes=size)).source == "€" * 30
    with pytest.raises(FinesseProtocolError) as caught:
        parse_update(document, limits=XmlLimits(max_bytes=size - 1))
    assert caught.value.reason == "finesse_xml_too_large"
