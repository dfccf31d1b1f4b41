"""Commands → request bodies: exact shapes, escaping, validation, and render → parse round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.finesse.commands import (
    DialogAction,
    DialogActionName,
    MakeCall,
    RequestedState,
    SignIn,
    StateChange,
)
from connector.finesse.ids import DeviceId, ReasonCodeId
from connector.finesse.models import CallVariable, MobileAgent, MobileAgentMode
from connector.finesse.render import (
    render_dialog_action,
    render_make_call,
    render_sign_in,
    render_state_change,
)
from connector.finesse.xmltree import child, children, parse_document, raw_text
from edge.tunnel.errors import BadRequest


def test_sign_in_shapes() -> None:
    assert (
        render_sign_in(SignIn("1001001"))
        == b"<User><state>LOGIN</state><extension>1001001</extension></User>"
    )
    mobile = SignIn(
        "1001001",
        mobile_agent=MobileAgent(MobileAgentMode.CALL_BY_CALL, "+420 123"),
        active_device_id=DeviceId("SEP0011"),
    )
    assert render_sign_in(mobile) == (
        b"<User><state>LOGIN</state><extension>1001001</extension>"
        b"<mobileAgent><mode>CALL_BY_CALL</mode><dialNumber>+420 123</dialNumber></mobileAgent>"
        b"<activeDeviceId>SEP0011</activeDeviceId></User>"
    )


def test_state_change_shapes() -> None:
    assert render_state_change(StateChange(RequestedState.READY)) == b"<User><state>READY</state></User>"
    assert render_state_change(StateChange(RequestedState.NOT_READY, ReasonCodeId("16"))) == (
        b"<User><state>NOT_READY</state><reasonCodeId>16</reasonCodeId></User>"
    )
    assert render_state_change(StateChange(RequestedState.LOGOUT, ReasonCodeId("3"))) == (
        b"<User><state>LOGOUT</state><reasonCodeId>3</reasonCodeId></User>"
    )


def test_make_call_shape() -> None:
    assert render_make_call(MakeCall("1001001", "5551234")) == (
        b"<Dialog><requestedAction>MAKE_CALL</requestedAction><fromAddress>1001001</fromAddress>"
        b"<toAddress>5551234</toAddress></Dialog>"
    )


@pytest.mark.parametrize(
    "action",
    [
        DialogActionName.ANSWER,
        DialogActionName.HOLD,
        DialogActionName.RETRIEVE,
        DialogActionName.DROP,
        DialogActionName.TRANSFER,
        DialogActionName.CONFERENCE,
    ],
)
def test_simple_dialog_actions(action: DialogActionName) -> None:
    body = render_dialog_action(DialogAction.simple(action, extension="1001001"))
    assert (
        body
        == (
            f"<Dialog><requestedAction>{action}</requestedAction>"
            "<targetMediaAddress>1001001</targetMediaAddress></Dialog>"
        ).encode()
    )


def test_dialog_actions_with_values() -> None:
    assert render_dialog_action(DialogAction.consult_call(extension="1001", to="2002")) == (
        b"<Dialog><requestedAction>CONSULT_CALL</requestedAction><targetMediaAddress>1001</targetMediaAddress>"
        b"<toAddress>2002</toAddress></Dialog>"
    )
    assert b"<requestedAction>TRANSFER_SST</requestedAction>" in render_dialog_action(
        DialogAction.transfer_sst(extension="1001", to="2002")
    )
    assert render_dialog_action(DialogAction.send_dtmf(extension="1001", digits="12*#")) == (
        b"<Dialog><requestedAction>SEND_DTMF</requestedAction><targetMediaAddress>1001</targetMediaAddress>"
        b"<actionParams><ActionParam><name>dtmfString</name><value>12*#</value></ActionParam></actionParams>"
        b"</Dialog>"
    )
    update = DialogAction.update_call_data(
        extension="1001",
        call_variables=(CallVariable("callVariable1", "a<b&c"), CallVariable("user.tier", "gold")),
        wrap_up_reason="Resolved",
    )
    assert render_dialog_action(update) == (
        b"<Dialog><requestedAction>UPDATE_CALL_DATA</requestedAction>"
        b"<targetMediaAddress>1001</targetMediaAddress><mediaProperties><wrapUpReason>Resolved</wrapUpReason>"
        b"<callvariables><CallVariable><name>callVariable1</name><value>a&lt;b&amp;c</value></CallVariable>"
        b"<CallVariable><name>user.tier</name><value>gold</value></CallVariable></callvariables>"
        b"</mediaProperties></Dialog>"
    )
    only_reason = DialogAction.update_call_data(extension="1001", wrap_up_reason="Resolved")
    assert b"<callvariables>" not in render_dialog_action(only_reason)


@pytest.mark.parametrize(
    "build",
    [
        lambda: SignIn(""),
        lambda: SignIn("   "),
        lambda: SignIn("1" * 300),
        lambda: SignIn("10\x0001"),
        lambda: SignIn("1001", mobile_agent=MobileAgent(MobileAgentMode.CALL_BY_CALL, "")),
        lambda: SignIn("1001", active_device_id=DeviceId("")),
        lambda: StateChange(RequestedState.READY, ReasonCodeId("16")),
        lambda: StateChange(RequestedState.NOT_READY, ReasonCodeId("")),
        lambda: MakeCall("1001", ""),
        lambda: MakeCall("", "2002"),
        lambda: DialogAction.simple(DialogActionName.CONSULT_CALL, extension="1001"),
        lambda: DialogAction.simple(DialogActionName.SEND_DTMF, extension="1001"),
        lambda: DialogAction.simple(DialogActionName.UPDATE_CALL_DATA, extension="1001"),
        lambda: DialogAction.simple(DialogActionName.ANSWER, extension=""),
        lambda: DialogAction.send_dtmf(extension="1001", digits="12x"),
        lambda: DialogAction.send_dtmf(extension="1001", digits="1" * 65),
        lambda: DialogAction(DialogActionName.HOLD, "1001", to_address="2002"),
        lambda: DialogAction(DialogActionName.HOLD, "1001", dtmf_string="1"),
        lambda: DialogAction(DialogActionName.HOLD, "1001", wrap_up_reason="x"),
        lambda: DialogAction.update_call_data(extension="1001", call_variables=(CallVariable("", "x"),)),
        lambda: DialogAction.update_call_data(extension="1001", call_variables=(CallVariable("v", "\x1b"),)),
    ],
)
def test_invalid_commands_are_refused_before_sending(build: object) -> None:
    assert callable(build)
    with pytest.raises(BadRequest) as caught:
        build()
    assert caught.value.code == "invalid_finesse_request"
    assert caught.value.extra["field"]


# XML cannot carry control characters, and parsers normalise CR to LF, so neither can round trip.
xml_chars = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
xml_text = st.text(alphabet=xml_chars, min_size=1, max_size=40).filter(lambda value: value.strip() != "")


@given(extension=xml_text, dial_number=xml_text, device=xml_text)
def test_sign_in_round_trips(extension: str, dial_number: str, device: str) -> None:
    command = SignIn(extension, MobileAgent(MobileAgentMode.NAILED_CONNECTION, dial_number), DeviceId(device))
    root = parse_document(render_sign_in(command))
    mobile_agent = child(root, "mobileagent")
    assert mobile_agent is not None
    assert (raw_text(root, "state"), raw_text(root, "extension")) == ("LOGIN", extension)
    assert (raw_text(mobile_agent, "mode"), raw_text(mobile_agent, "dialnumber")) == (
        "NAILED_CONNECTION",
        dial_number,
    )
    assert raw_text(root, "activedeviceid") == device


@given(
    variables=st.lists(st.tuples(xml_text, st.text(alphabet=xml_chars, max_size=40))),
    wrap_up=xml_text,
)
def test_call_data_round_trips(variables: list[tuple[str, str]], wrap_up: str) -> None:
    command = DialogAction.update_call_data(
        extension="1001",
        call_variables=tuple(CallVariable(name, value) for name, value in variables),
        wrap_up_reason=wrap_up,
    )
    root = parse_document(render_dialog_action(command))
    media = child(root, "mediaproperties")
    assert media is not None
    assert raw_text(media, "wrapupreason") == wrap_up
    parsed = [
        (raw_text(variable, "name"), raw_text(variable, "value"))
        for variable in children(child(media, "callvariables"), "callvariable")
    ]
    assert parsed == variables


@given(to=xml_text)
def test_make_call_round_trips(to: str) -> None:
    root = parse_document(render_make_call(MakeCall("1001", to)))
    assert raw_text(root, "toaddress") == to
