"""The connector's event frame text (``EventLog``): compact, members in a fixed order, the same JSON value
the stdlib made, and the stdlib's answer for data no JSON encoder of ours should be given."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.sessions.eventlog import EventLog
from edge.tunnel.messages import AgentId
from tests.json_path.strategies import json_values, text

MOMENT = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)


def publish(data: Mapping[str, Any], type_: str = "dialog.updated") -> str:
    log = EventLog(agent_id=AgentId("1001"), capacity=4, snapshot=dict, now=lambda: MOMENT)
    return log.publish(type_, data).json


def test_an_event_frame_is_compact_with_seq_type_at_data_in_that_order() -> None:
    text = publish({"dialog": {"id": "7", "state": "ACTIVE", "actions": ["HOLD", "DROP"], "n": 3, "x": None}})
    assert text == (
        '{"seq":1,"type":"dialog.updated","at":"2026-11-21T10:00:00.123Z",'
        '"data":{"dialog":{"id":"7","state":"ACTIVE","actions":["HOLD","DROP"],"n":3,"x":null}}}'
    )


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(text(max_size=10), json_values, max_size=6))
def test_an_event_frame_carries_the_data_as_given(data: dict[str, Any]) -> None:
    frame = json.loads(publish(data))
    assert list(frame) == ["seq", "type", "at", "data"]
    assert frame["data"] == data
    # The member order of the data survives too (the app may show call variables in Finesse's order).
    assert list(frame["data"]) == list(data)


def test_keys_that_are_not_strings_are_spelled_as_strings() -> None:
    assert json.loads(publish({"vars": {1: "a", 2.5: "b", None: "d"}}))["data"] == {
        "vars": {"1": "a", "2.5": "b", "null": "d"}
    }


def test_an_integer_beyond_64_bits_is_written_exactly() -> None:
    assert json.loads(publish({"n": 2**70 + 1, "m": -(2**64)}))["data"] == {"n": 2**70 + 1, "m": -(2**64)}


def test_a_lone_surrogate_is_written_as_its_escape() -> None:
    text = publish({"name": "a\ud800b"})
    assert text.isascii()
    assert json.loads(text)["data"] == {"name": "a\ud800b"}


def test_a_number_json_cannot_carry_is_null() -> None:
    # The stdlib wrote NaN and Infinity, which no JSON parser of an app reads (orjson: null).
    text = publish({"n": float("nan"), "m": float("inf"), "k": -float("inf")})
    assert text.endswith('"data":{"n":null,"m":null,"k":null}}')
    assert json.loads(text, parse_constant=pytest.fail)["data"] == {"n": None, "m": None, "k": None}


@pytest.mark.parametrize("value", [MOMENT, b"bytes", {1, 2}, object()])
def test_a_value_json_has_no_spelling_for_is_a_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        publish({"value": value})


def test_an_event_that_cannot_be_encoded_leaves_no_gap_in_seq() -> None:
    log = EventLog(agent_id=AgentId("1001"), capacity=4, snapshot=dict, now=lambda: MOMENT)
    log.publish("agent.updated", {"n": 1})
    with pytest.raises(TypeError):
        log.publish("agent.updated", {"n": object()})
    assert log.last_seq == 1
    assert log.publish("agent.updated", {"n": 2}).seq == 2
    replayed = log.replay(0)
    assert replayed is not None
    assert [json.loads(event.json)["data"]["n"] for event in replayed] == [1, 2]
