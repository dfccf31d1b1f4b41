"""Parsing REST request bodies: untrusted XML in, :mod:`.commands` values out.

defusedxml refuses DTDs, entity declarations and external references; every element must be one Finesse
defines for that body (unknown or repeated elements are refused rather than ignored, so a client's typo
is a clear 400 instead of a silent no-op). Every failure is a Finesse-shaped 400 ``Invalid Input``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Collection

import defusedxml
import defusedxml.ElementTree as SafeET

from . import errors
from .commands import DialogRequest, MobileAgentRequest, UserUpdate

MAX_TEXT_CHARS = 256
MAX_REPEATED = 64


def _parse(data: bytes, root_tag: str) -> ET.Element:
    if not data.strip():
        raise errors.parameter_missing(root_tag)
    try:
        root: ET.Element = SafeET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DefusedXmlException as error:
        raise errors.invalid_input(
            root_tag, "DTDs, entities and external references are not allowed"
        ) from error
    except (ET.ParseError, ValueError, LookupError, RecursionError) as error:
        raise errors.invalid_input(root_tag, "the body is not well-formed XML") from error
    if root.tag != root_tag:
        raise errors.invalid_input(root_tag, f"the body must be a <{root_tag}> document")
    return root


def _children(element: ET.Element, allowed: Collection[str]) -> dict[str, ET.Element]:
    found: dict[str, ET.Element] = {}
    for child in element:
        if not isinstance(child.tag, str) or child.tag not in allowed:
            raise errors.invalid_input(element.tag, f"unknown element inside <{element.tag}>")
        if child.tag in found:
            raise errors.invalid_input(child.tag, f"<{child.tag}> appears more than once")
        found[child.tag] = child
    return found


def _text(element: ET.Element | None) -> str | None:
    if element is None:
        return None
    if len(element):
        raise errors.invalid_input(element.tag, f"<{element.tag}> must hold text only")
    text = (element.text or "").strip()
    if len(text) > MAX_TEXT_CHARS:
        raise errors.invalid_input(element.tag, f"<{element.tag}> is too long")
    return text


def _name_value_pairs(element: ET.Element | None, item_tag: str) -> dict[str, str]:
    """``<callvariables><CallVariable><name/><value/>…`` and ``<actionParams><ActionParam>…`` lists."""
    pairs: dict[str, str] = {}
    if element is None:
        return pairs
    items = list(element)
    if len(items) > MAX_REPEATED:
        raise errors.invalid_input(element.tag, f"too many <{item_tag}> elements")
    for item in items:
        if item.tag != item_tag:
            raise errors.invalid_input(element.tag, f"unknown element inside <{element.tag}>")
        fields = _children(item, ("name", "value"))
        name = _text(fields.get("name"))
        if not name:
            raise errors.parameter_missing("name")
        pairs[name] = _text(fields.get("value")) or ""
    return pairs


def parse_user_update(data: bytes) -> UserUpdate:
    """A ``<User>`` body of ``PUT /finesse/api/User/{id}``."""
    fields = _children(
        _parse(data, "User"), ("state", "extension", "reasonCodeId", "mobileAgent", "activeDeviceId")
    )
    mobile = None
    if "mobileAgent" in fields:
        mobile_fields = _children(fields["mobileAgent"], ("mode", "dialNumber"))
        mobile = MobileAgentRequest(
            mode=_text(mobile_fields.get("mode")), dial_number=_text(mobile_fields.get("dialNumber"))
        )
    return UserUpdate(
        state=_text(fields.get("state")),
        extension=_text(fields.get("extension")),
        reason_code_id=_text(fields.get("reasonCodeId")),
        mobile_agent=mobile,
        active_device_id=_text(fields.get("activeDeviceId")),
    )


def parse_dialog_request(data: bytes) -> DialogRequest:
    """A ``<Dialog>`` body of ``POST /finesse/api/User/{id}/Dialogs`` or ``PUT /finesse/api/Dialog/{id}``."""
    fields = _children(
        _parse(data, "Dialog"),
        (
            "requestedAction",
            "fromAddress",
            "toAddress",
            "targetMediaAddress",
            "actionParams",
            "mediaProperties",
        ),
    )
    call_variables: dict[str, str] = {}
    wrap_up_reason = None
    if "mediaProperties" in fields:
        media = _children(fields["mediaProperties"], ("callvariables", "wrapUpReason"))
        call_variables = _name_value_pairs(media.get("callvariables"), "CallVariable")
        wrap_up_reason = _text(media.get("wrapUpReason"))
    return DialogRequest(
        requested_action=_text(fields.get("requestedAction")),
        from_address=_text(fields.get("fromAddress")),
        to_address=_text(fields.get("toAddress")),
        target_media_address=_text(fields.get("targetMediaAddress")),
        action_params=_name_value_pairs(fields.get("actionParams"), "ActionParam"),
        call_variables=call_variables,
        wrap_up_reason=wrap_up_reason,
    )
