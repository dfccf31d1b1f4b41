"""Commands → Finesse request bodies (``application/xml``).

Bodies are built as element trees and serialised by ElementTree, so every value is escaped; there are no
string templates. One function per command type, all sharing :func:`_serialise`.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement, tostring

from connector.finesse.commands import DialogAction, DialogActionName, MakeCall, SignIn, StateChange


def render_sign_in(command: SignIn) -> bytes:
    """``<User><state>LOGIN</state><extension>…`` (+ ``mobileAgent``, ``activeDeviceId``)."""
    user = Element("User")
    _leaf(user, "state", "LOGIN")
    _leaf(user, "extension", command.extension)
    if command.mobile_agent is not None:
        mobile_agent = SubElement(user, "mobileAgent")
        _leaf(mobile_agent, "mode", command.mobile_agent.mode.value)
        _leaf(mobile_agent, "dialNumber", command.mobile_agent.dial_number)
    if command.active_device_id is not None:
        _leaf(user, "activeDeviceId", command.active_device_id)
    return _serialise(user)


def render_state_change(command: StateChange) -> bytes:
    """``<User><state>…</state>`` (+ ``reasonCodeId``); also used to sign out (LOGOUT)."""
    user = Element("User")
    _leaf(user, "state", command.state.value)
    if command.reason_code_id is not None:
        _leaf(user, "reasonCodeId", command.reason_code_id)
    return _serialise(user)


def render_make_call(command: MakeCall) -> bytes:
    """``<Dialog><requestedAction>MAKE_CALL</requestedAction><fromAddress>…<toAddress>…``."""
    dialog = Element("Dialog")
    _leaf(dialog, "requestedAction", "MAKE_CALL")
    _leaf(dialog, "fromAddress", command.from_address)
    _leaf(dialog, "toAddress", command.to_address)
    return _serialise(dialog)


def render_dialog_action(command: DialogAction) -> bytes:
    """``<Dialog><requestedAction>…<targetMediaAddress>…`` plus what the action needs: ``toAddress``,
    ``actionParams`` (DTMF) or ``mediaProperties`` (call variables, wrap-up reason)."""
    dialog = Element("Dialog")
    _leaf(dialog, "requestedAction", command.action.value)
    _leaf(dialog, "targetMediaAddress", command.target_media_address)
    if command.to_address is not None:
        _leaf(dialog, "toAddress", command.to_address)
    if command.action is DialogActionName.SEND_DTMF and command.dtmf_string is not None:
        parameter = SubElement(SubElement(dialog, "actionParams"), "ActionParam")
        _leaf(parameter, "name", "dtmfString")
        _leaf(parameter, "value", command.dtmf_string)
    if command.action is DialogActionName.UPDATE_CALL_DATA:
        media_properties = SubElement(dialog, "mediaProperties")
        if command.wrap_up_reason is not None:
            _leaf(media_properties, "wrapUpReason", command.wrap_up_reason)
        if command.call_variables:
            variables = SubElement(media_properties, "callvariables")
            for variable in command.call_variables:
                call_variable = SubElement(variables, "CallVariable")
                _leaf(call_variable, "name", variable.name)
                _leaf(call_variable, "value", variable.value)
    return _serialise(dialog)


def _leaf(parent: Element, tag: str, value: str) -> None:
    SubElement(parent, tag).text = value


def _serialise(root: Element) -> bytes:
    # UTF-8 without a declaration: what Finesse's own desktop sends.
    body: bytes = tostring(root, encoding="utf-8")
    return body
