"""The tunnel frame codec's contract, pinned against the stdlib implementation it replaced (tests/json_path/
oracle.py): every valid frame round-trips, a peer on either implementation reads the other's frames, an
encoded frame's length is its size in bytes, and hostile text is refused with the same error codes,
never anything but a ``ProtocolError``. Where orjson is stricter than the stdlib was (lone surrogates,
numbers beyond the double range) or the frame rules became stricter with it (bounded versions, a bounded
failure depth), the tests say so where they expect it."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edge.tunnel import frames as f
from edge.tunnel.errors import ProtocolError
from edge.tunnel.messages import AgentEvent, AgentId, Principal
from tests.json_path.oracle import stdlib_decode, stdlib_encode
from tests.json_path.strategies import frames, text
from tests.tunnel.test_frames import FRAME_FIELDS

REASONS = frozenset({"malformed_frame", "unknown_frame", "frame_too_large"})
Outcome = f.Frame | str


def as_bytes(data: str | bytes) -> bytes:
    return data if isinstance(data, bytes) else data.encode()


def as_text(data: str | bytes) -> str:
    return data.decode() if isinstance(data, bytes) else data


def outcome(
    data: str | bytes, *, oracle: bool = False, max_frame_bytes: int = f.DEFAULT_MAX_FRAME_BYTES
) -> Outcome:
    """The frame, or the reason of the ``ProtocolError``; anything else raised fails the test."""
    decode = stdlib_decode if oracle else f.decode_frame
    try:
        return decode(data, max_frame_bytes=max_frame_bytes)
    except ProtocolError as error:
        return error.reason


# --- valid frames ---------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames)
def test_every_valid_frame_round_trips_as_bytes_and_as_text(frame: f.Frame) -> None:
    encoded = f.encode_frame(frame)
    assert f.decode_frame(encoded) == frame
    assert f.decode_frame(as_bytes(encoded)) == frame
    assert f.decode_frame(as_text(encoded)) == frame


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames)
def test_a_peer_on_either_implementation_reads_the_other(frame: f.Frame) -> None:
    assert stdlib_decode(f.encode_frame(frame)) == frame
    assert f.decode_frame(stdlib_encode(frame)) == frame


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames)
def test_an_encoded_frame_is_one_json_object_whose_length_is_its_size_in_bytes(frame: f.Frame) -> None:
    encoded = f.encode_frame(frame)
    # The protocol bounds frames by len(): it must count bytes, whatever the text holds.
    assert len(encoded) == len(as_bytes(encoded))
    parsed = json.loads(encoded)
    assert isinstance(parsed, dict)
    assert parsed["type"] == type(frame).__name__.lower()


def test_an_event_frame_is_spelled_compactly_in_a_fixed_member_order() -> None:
    frame = f.Event(7, AgentEvent(AgentId("1001"), 42, "dialog.created", '{"seq":42}'))
    expected = (
        '{"type":"event","sid":7,"agent_id":"1001","seq":42,"event_type":"dialog.created",'
        '"json":"{\\"seq\\":42}"}'
    )
    assert as_text(f.encode_frame(frame)) == expected
    batch = as_text(f.encode_frame(f.Batch((frame, frame))))
    assert batch == '{"type":"batch","events":[' + expected + "," + expected + "]}"


# --- hostile text -----------------------------------------------------------------------------------------

_PRINCIPAL = '{"agent_id":"1001","subject":"s","scopes":[],"token_expires_at":%s}'
_ATTACH = '{"type":"attach","sid":1,"since":null,"principal":' + _PRINCIPAL + "}"


def _attach_expiring(expires_at: float) -> f.Attach:
    return f.Attach(1, Principal(AgentId("1001"), "s", (), None, expires_at), None)


HOSTILE: list[tuple[str | bytes, Outcome]] = [
    # Not finite: refused wherever a number may stand.
    ('{"type":"cancel","sid":NaN}', "malformed_frame"),
    ('{"type":"cancel","sid":Infinity}', "malformed_frame"),
    ('{"type":"cancel","sid":-Infinity}', "malformed_frame"),
    (_ATTACH % "NaN", "malformed_frame"),
    (_ATTACH % "-Infinity", "malformed_frame"),
    ('{"type":"failure","sid":1,"error":{"status":400,"code":"x","n":NaN}}', "malformed_frame"),
    ('{"type":"ping","nonce":"x","ignored":Infinity}', "malformed_frame"),
    # Beyond the 64-bit and double ranges.
    ('{"type":"cancel","sid":18446744073709551616}', "malformed_frame"),
    ('{"type":"cancel","sid":-9223372036854775809}', "malformed_frame"),
    (
        '{"type":"detach","sid":1,"reason":"ended","last_seq":123456789012345678901234567890}',
        "malformed_frame",
    ),
    ('{"type":"welcome","version":18446744073709551616,"edge_id":"e"}', "malformed_frame"),
    # The stdlib read this version exactly (then: version_mismatch); versions are bounded like stream ids.
    ('{"type":"hello","versions":[1,18446744073709551616],"connector_id":"c"}', "malformed_frame"),
    ('{"type":"hello","versions":[1,9007199254740992],"connector_id":"c"}', "malformed_frame"),
    ('{"type":"hello","versions":[1,9007199254740991],"connector_id":"c"}', f.Hello((1, 2**53 - 1), "c")),
    ('{"type":"cancel","sid":' + "9" * 5000 + "}", "malformed_frame"),
    (_ATTACH % "1e400", "malformed_frame"),  # the stdlib read an infinite expiry
    (_ATTACH % "1e308", _attach_expiring(1e308)),
    # Text that is not Unicode: invalid UTF-8, lone surrogates, a byte order mark, raw control characters.
    (b'{"type":"ping","nonce":"\xff"}', "malformed_frame"),
    (b'{"type":"ping","nonce":"\xc0\xaf"}', "malformed_frame"),
    (b'{"type":"ping","nonce":"\xed\xa0\x80"}', "malformed_frame"),
    (b'\xef\xbb\xbf{"type":"drain"}', "malformed_frame"),
    ('\ufeff{"type":"drain"}', "malformed_frame"),
    # The stdlib let lone surrogates through (the edge then failed to send such an event to the app).
    ('{"type":"ping","nonce":"\\ud800"}', "malformed_frame"),
    ('{"type":"ping","nonce":"\\udc00\\ud800"}', "malformed_frame"),
    ('{"type":"ping","nonce":"\ud800"}', "malformed_frame"),
    ('{"type":"ping","x":"\\ud800","nonce":"n"}', "malformed_frame"),
    ('{"type":"ping","nonce":"\\ud83d\\ude00"}', f.Ping("😀")),
    ('{"type":"ping","nonce":"a\x00b"}', "malformed_frame"),
    ('{"type":"ping","nonce":"a\nb"}', "malformed_frame"),
    ('{"type":"ping","nonce":"a\\u0000b"}', f.Ping("a\x00b")),
    # Duplicate keys: the last one counts, as in every mainstream parser.
    ('{"type":"cancel","sid":0,"sid":5}', f.Cancel(5)),
    ('{"type":"cancel","sid":5,"sid":0}', "malformed_frame"),
    ('{"type":"drain","type":"teleport"}', "unknown_frame"),
    # Nesting.
    ("[" * 50_000, "malformed_frame"),
    ("[" * 1100 + "]" * 1100, "malformed_frame"),
    ('{"type":"drain","x":' + "[" * 1100 + "]" * 1100 + "}", "malformed_frame"),
    ('{"type":"drain","x":' + "[" * 200 + "]" * 200 + "}", f.Drain()),
    # A failure's error is rendered again for the app: bounded (the stdlib read any depth it could).
    (
        '{"type":"failure","sid":1,"error":{"status":400,"code":"x","deep":' + "[" * 100 + "]" * 100 + "}}",
        "malformed_frame",
    ),
    (
        '{"type":"failure","sid":1,"error":{"status":400,"code":"x","deep":' + "[" * 31 + "]" * 31 + "}}",
        f.Failure(1, {"status": 400, "code": "x", "deep": json.loads("[" * 31 + "]" * 31)}),
    ),
    (
        '{"type":"failure","sid":1,"error":{"status":400,"code":"x","deep":' + "[" * 32 + "]" * 32 + "}}",
        "malformed_frame",
    ),
    # Not one JSON object.
    ("", "malformed_frame"),
    ("   ", "malformed_frame"),
    ('{"type":"drain"} {}', "malformed_frame"),
    ('{"type":"drain"', "malformed_frame"),
    ('[{"type":"drain"}]', "malformed_frame"),
    ('"drain"', "malformed_frame"),
    (' {"type":"drain"}\n', f.Drain()),
    ("{'type':'drain'}", "malformed_frame"),
    ('{"type":"drain",}', "malformed_frame"),
]


@pytest.mark.parametrize(("data", "expected"), HOSTILE, ids=lambda value: repr(value)[:60])
def test_hostile_text_keeps_its_outcome(data: str | bytes, expected: Outcome) -> None:
    assert outcome(data) == expected


@pytest.mark.parametrize("expires_at", ["1" * 400, "-" + "1" * 400])
def test_an_expiry_beyond_any_float_is_malformed_not_a_crash(expires_at: str) -> None:
    # The stdlib codec raised OverflowError here (float() of the integer it had parsed).
    assert outcome(_ATTACH % expires_at) == "malformed_frame"


def test_a_str_holding_a_lone_surrogate_past_a_quarter_of_the_limit_is_refused_not_a_crash() -> None:
    # The stdlib codec raised UnicodeEncodeError here (it measured the str by encoding it).
    data = '{"type":"ping","nonce":"\ud800"}' + " " * 30
    assert outcome(data, max_frame_bytes=100) in REASONS


# --- hostile text, generated: the current codec and the stdlib one agree -----------------------------------

_HOSTILE_LITERALS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "4.9e-400",
    "-0",
    "-0.0",
    "1E+2",
    "9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "123456789012345678901234567890",
    '"\\ud800"',
    '"x\\udfff"',
    '"\\udc00\\ud800"',
    '"\\ud83d\\ude00"',
    '"\\u0000\\u001f"',
    '"\u2028\u00e9\U0001f600"',
    "[" * 30 + "]" * 30,
    '{"a":1,"a":[2]}',
    '{"":{"":{"":null}}}',
]
_MARK = "@@hostile-{}@@"
_FIELDS = [*FRAME_FIELDS, "token_expires_at", "subject", "scopes"]  # and the principal's members
_marked_values = st.integers(0, len(_HOSTILE_LITERALS) - 1).map(_MARK.format)
_leaf_values = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text(max_size=12) | _marked_values
_field_values = st.recursive(
    _leaf_values,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_FIELDS), inner, max_size=5),
    max_leaves=12,
)


@st.composite
def hostile_texts(draw: st.DrawFn) -> str | bytes:
    kind = draw(st.sampled_from(sorted(f._DECODERS)))
    fields = draw(st.dictionaries(st.sampled_from(_FIELDS), _field_values, max_size=8))
    text = json.dumps({"type": kind, **fields}, ensure_ascii=draw(st.booleans()))
    for index, literal in enumerate(_HOSTILE_LITERALS):
        text = text.replace(json.dumps(_MARK.format(index)), literal)
    return text.encode() if draw(st.booleans()) else text


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_INT_RANGE = range(-(2**63), 2**64)  # what orjson reads as an int


def _refused_now(data: str | bytes) -> bool:
    """Whether ``data`` holds what the stdlib parser let through and orjson refuses: a lone surrogate
    (escaped or not) or a number beyond the double range (the stdlib read an infinity)."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return False
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and _LONE_SURROGATE.search(item):
            return True
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _as_orjson_reads(value: Any) -> Any:
    """``value`` with its integers beyond 64 bits as orjson reads them: floats."""
    if isinstance(value, dict):
        return {key: _as_orjson_reads(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_orjson_reads(item) for item in value]
    if type(value) is int and value not in _INT_RANGE:
        return float(value)
    return value


def assert_stdlib_outcome_or_stricter(data: str | bytes) -> None:
    """The outcome the stdlib codec had, but for the documented differences: what it let through and
    orjson refuses is malformed_frame now, and a failure's integers beyond 64 bits arrive as floats."""
    expected = outcome(data, oracle=True)
    if isinstance(expected, f.Failure):
        expected = f.Failure(expected.sid, _as_orjson_reads(expected.error))
    if _refused_now(data):
        assert outcome(data) == "malformed_frame"
    else:
        assert outcome(data) == expected


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_texts())
def test_generated_hostile_text_has_the_stdlib_outcome_or_a_stricter_one(data: str | bytes) -> None:
    assert_stdlib_outcome_or_stricter(data)


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    data = bytearray(as_bytes(f.encode_frame(draw(frames))))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        match draw(st.sampled_from(["cut", "drop", "insert", "flip"])):
            case "cut":
                del data[at:]
            case "drop":
                del data[at : at + 1]
            case "insert":
                data[at:at] = draw(
                    st.sampled_from(
                        [b'"', b"\\", b"\xff", b"\xed\xa0\x80", b"{", b"]", b",", b"\\ud800", b"NaN"]
                    )
                )
            case "flip" if at < len(data):
                data[at] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_frames())
def test_mutated_frames_have_the_stdlib_outcome_or_a_stricter_one(data: bytes) -> None:
    assume(data)
    assert_stdlib_outcome_or_stricter(data)


# --- what is encoded --------------------------------------------------------------------------------------


def test_a_failure_keeps_its_extras_and_their_order() -> None:
    error = {
        "status": 409,
        "code": "device_selection_required",
        "detail": "pick",
        "devices": [{"id": "SEP1"}],
    }
    frame = f.Failure(3, error)
    assert f.decode_frame(f.encode_frame(frame)) == frame
    assert list(json.loads(f.encode_frame(frame))["error"]) == ["status", "code", "detail", "devices"]


def test_a_failure_with_keys_that_are_not_strings_has_them_spelled_as_strings() -> None:
    error: dict[Any, Any] = {"status": 400, "code": "x", 7: "seven", None: "none"}  # a bug of ours
    frame = f.Failure(3, error)
    decoded = f.decode_frame(f.encode_frame(frame))
    assert isinstance(decoded, f.Failure)
    assert decoded.error == {"status": 400, "code": "x", "7": "seven", "null": "none"}


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_number_json_cannot_carry_is_refused_when_encoding(number: float) -> None:
    with pytest.raises(ValueError, match="JSON"):
        f.encode_frame(f.Failure(3, {"status": 400, "code": "x", "n": number}))
    with pytest.raises(ValueError, match="JSON"):
        f.encode_frame(_attach_expiring(number))


def test_an_integer_beyond_64_bits_in_a_failure_reaches_the_peer_as_the_nearest_float() -> None:
    # The stdlib read it exactly; orjson reads a float. Only a bug of ours would put one there.
    frame = f.Failure(3, {"status": 400, "code": "x", "big": 2**70 + 1, "small": -(2**63), "top": 2**64 - 1})
    decoded = f.decode_frame(f.encode_frame(frame))
    assert isinstance(decoded, f.Failure)
    assert decoded.error == {
        "status": 400,
        "code": "x",
        "big": float(2**70 + 1),
        "small": -(2**63),
        "top": 2**64 - 1,
    }


def test_a_failure_nested_deeper_than_the_bound_is_refused_when_encoding() -> None:
    deep: list[object] = []  # with the error around it: one level too many
    for _ in range(f.MAX_ERROR_NESTING - 1):
        deep = [deep]
    with pytest.raises(ValueError, match="nest"):
        f.encode_frame(f.Failure(3, {"status": 400, "code": "x", "deep": deep}))
    frame = f.Failure(3, {"status": 400, "code": "x", "deep": deep[0]})
    assert f.decode_frame(f.encode_frame(frame)) == frame


def test_text_with_a_lone_surrogate_leaves_with_a_replacement_character_the_peer_reads() -> None:
    # The stdlib wrote the escape, which a peer now refuses (and the whole connection with it).
    frame = f.Attach(1, Principal(AgentId("1001"), "sub\ud800ject", ("a\udfff", "\ud83d\ude00")), None)
    expected = f.Attach(1, Principal(AgentId("1001"), "sub\ufffdject", ("a\ufffd", "\ufffd\ufffd")), None)
    assert f.decode_frame(f.encode_frame(frame)) == expected
    failure = f.Failure(3, {"status": 400, "code": "x", "detail": "field call_variables.\udc80"})
    assert f.decode_frame(f.encode_frame(failure)) == f.Failure(
        3, {"status": 400, "code": "x", "detail": "field call_variables.\ufffd"}
    )


def test_an_event_frame_carries_the_event_text_verbatim() -> None:
    text = '{"seq":42,"type":"dialog.created","data":{"name":"Zoë \\"Z\\"","n":"\\u2028"}}'
    frame = f.Event(7, AgentEvent(AgentId("1001"), 42, "dialog.created", text))
    decoded = f.decode_frame(f.encode_frame(frame))
    assert isinstance(decoded, f.Event)
    assert decoded.event.json == text
