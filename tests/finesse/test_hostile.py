"""Hypothesis: whatever Finesse (or an impostor) sends, the parsers answer with a model or our own error."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.finesse.errors import FinesseProtocolError
from connector.finesse.models import Update
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
from tests.finesse import documents
from tests.finesse.captures import capture_names, notification_text

REST_PARSERS: list[Callable[..., object]] = [
    parse_user,
    parse_dialog,
    parse_dialogs,
    parse_reason_codes,
    parse_wrap_up_reasons,
    parse_devices,
    parse_system_info,
    parse_api_errors,
]

# Names the parsers look for, in assorted spellings, so random trees reach deep into the model builders.
NAMES = [
    "Update", "data", "event", "requestId", "source", "user", "User", "Dialog", "dialogs", "Dialogs",
    "loginId", "state", "STATE", "pendingState", "reasonCodeId", "ReasonCode", "code", "id", "uri",
    "roles", "role", "settings", "mobileAgent", "mode", "dialNumber", "wrapUpTimer", "stateChangeTime",
    "mediaProperties", "callvariables", "CallVariable", "name", "value", "participants", "Participant",
    "actions", "action", "startTime", "SystemInfo", "primaryNode", "host", "currentTimestamp",
    "apiErrors", "apiError", "errorType", "ReasonCodes", "WrapUpReasons", "WrapUpReason", "Devices",
    "Device", "deviceId", "forAll", "ApiErrors", "ApiError", "x:odd",
]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(["", "-1", "PUT", "put", "POST", "delete", "READY", "CALL_BY_CALL", "12", "true", "1e9"]),
    st.sampled_from(["2023-01-13T11:07:11.466Z", "99999999999999999999", "/finesse/api/User/1", "\u0663"]),
    st.text(max_size=12),
)


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _element(tag: str, content: list[str] | str) -> str:
    prefix = ' xmlns:x="urn:x"' if tag.startswith("x:") else ""
    body = "".join(content) if isinstance(content, list) else _escape(content)
    return f"<{tag}{prefix}>{body}</{tag}>"


trees = st.recursive(
    st.builds(_element, st.sampled_from(NAMES), VALUES),
    lambda inner: st.builds(_element, st.sampled_from(NAMES), st.lists(inner, max_size=5)),
    max_leaves=40,
)


def _only_our_error(parse: Callable[..., object], document: str | bytes) -> None:
    try:
        parse(document)
    except FinesseProtocolError as exc:
        reason = exc.reason
    else:
        return
    assert reason.startswith("finesse_xml_")


@given(st.text(max_size=300))
def test_random_text_into_parse_update(text: str) -> None:
    _only_our_error(parse_update, text)


@given(st.binary(max_size=300))
def test_random_bytes_into_every_rest_parser(data: bytes) -> None:
    for parse in REST_PARSERS:
        _only_our_error(parse, data)


@settings(max_examples=300)
@given(tree=trees)
def test_random_trees_into_parse_update(tree: str) -> None:
    for document in (tree, _element("Update", [tree]), _element("Update", [_element("data", [tree])])):
        _only_our_error(parse_update, document)


@given(tree=trees)
def test_random_trees_into_rest_parsers(tree: str) -> None:
    for parse in REST_PARSERS:
        _only_our_error(parse, tree)


@pytest.mark.parametrize("name", capture_names())
@given(data=st.data())
def test_mutated_captures(name: str, data: st.DataObject) -> None:
    text = notification_text(name)
    position = data.draw(st.integers(0, len(text)))
    length = data.draw(st.integers(0, 20))
    insert = data.draw(st.text(max_size=10))
    _only_our_error(parse_update, text[:position] + insert + text[position + length :])


@given(data=st.data())
def test_mutated_rest_bodies(data: st.DataObject) -> None:
    body = data.draw(
        st.sampled_from([documents.USER_REST, documents.DIALOGS_REST, documents.SYSTEM_INFO_REST])
    )
    position = data.draw(st.integers(0, len(body)))
    insert = data.draw(st.binary(max_size=8))
    mutated = body[:position] + insert + body[position + data.draw(st.integers(0, 8)) :]
    for parse in REST_PARSERS:
        _only_our_error(parse, mutated)


def test_a_well_formed_tree_can_also_succeed() -> None:
    # Guards the generator above: it must be able to produce documents the parser accepts.
    document = _element("Update", [_element("event", "put"), _element("data", [_element("user", "")])])
    with pytest.raises(FinesseProtocolError):
        parse_update(document)  # a <user> without an id is refused …
    accepted = _element("Update", [_element("event", "put"), _element("data", [])])
    assert isinstance(parse_update(accepted), Update)  # … an empty data element is not
