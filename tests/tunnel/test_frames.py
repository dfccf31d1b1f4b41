"""The frame codec: every frame round-trips; hostile input yields ProtocolError and nothing else."""

from __future__ import annotations

import contextlib
import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.tunnel import frames as f
from edge.tunnel.errors import ProtocolError
from edge.tunnel.messages import AgentEvent, AgentId, Principal, TunnelRequest, TunnelResponse

PRINCIPAL = Principal(AgentId("1001"), "user-1001", ("agent",), token="s3cr3t-bearer", token_expires_at=1.5)
EXAMPLES: list[f.Frame] = [
    f.Hello((1, 2), "c1", ("gzip",)),
    f.Welcome(1, "edge-a"),
    f.Request(
        1, TunnelRequest("r1", "PUT", "/api/v1/agent/state", "a=1", {"x": "y"}, b"\x00\xffbin", PRINCIPAL)
    ),
    f.Request(2, TunnelRequest("r2", "GET", "/healthz", "", {}, b"", None)),
    f.Response(1, TunnelResponse(202, {"content-type": "application/json"}, b'{"ok":true}')),
    f.Failure(1, {"status": 404, "code": "not_found", "detail": "no", "errorType": "Invalid"}),
    f.Cancel(9),
    f.Attach(3, PRINCIPAL, 41),
    f.Attach(4, Principal(AgentId("1002"), "s"), None),
    f.Attached(3),
    f.Event(3, AgentEvent(AgentId("1001"), 42, "dialog.created", '{"seq":42,"data":{"é":"\\u2028"}}')),
    f.Detach(3, "resync", 41),
    f.Ping("n1"),
    f.Pong("n1"),
    f.Drain(),
    f.Error("version_mismatch", "edge speaks [1]"),
    f.Batch(
        (
            f.Event(3, AgentEvent(AgentId("1001"), 1, "a", "{}")),
            f.Event(4, AgentEvent(AgentId("9"), 2, "b", "[]")),
        )
    ),
]


@pytest.mark.parametrize("frame", EXAMPLES, ids=lambda frame: type(frame).__name__)
def test_every_frame_round_trips(frame: f.Frame) -> None:
    data = f.encode_frame(frame)
    assert f.decode_frame(data) == frame
    assert f.decode_frame(data.decode()) == frame


def test_principal_token_never_shows_in_a_frame_repr() -> None:
    assert "s3cr3t" not in repr(EXAMPLES[2])


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe", "malformed_frame"),
        ("", "malformed_frame"),
        ("[1]", "malformed_frame"),
        ("{" * 50_000, "malformed_frame"),
        ('{"type":"event","sid":1,"seq":NaN}', "malformed_frame"),
        ('{"type":"teleport"}', "unknown_frame"),
        ('{"type":7}', "unknown_frame"),
        ('{"type":"cancel","sid":0}', "malformed_frame"),
        ('{"type":"cancel","sid":true}', "malformed_frame"),
        ('{"type":"cancel","sid":9007199254740992}', "malformed_frame"),
        ('{"type":"cancel","sid":' + "9" * 5000 + "}", "malformed_frame"),
        ('{"type":"hello","versions":[],"connector_id":"c"}', "malformed_frame"),
        ('{"type":"request","sid":1,"request_id":"r","method":"G T","path":"/x"}', "malformed_frame"),
        ('{"type":"request","sid":1,"request_id":"r","method":"GET","path":"x"}', "malformed_frame"),
        (
            '{"type":"request","sid":1,"request_id":"r","method":"GET","path":"/x","body":"!!"}',
            "malformed_frame",
        ),
        ('{"type":"attach","sid":1,"since":null}', "malformed_frame"),
        ('{"type":"attach","sid":1,"principal":{"agent_id":"","subject":"s"}}', "malformed_frame"),
        ('{"type":"failure","sid":1,"error":{"status":200,"code":"x"}}', "malformed_frame"),
        ('{"type":"detach","sid":1,"reason":"bored"}', "malformed_frame"),
        ('{"type":"response","sid":1,"status":200,"headers":{"a":1}}', "malformed_frame"),
        ('{"type":"batch","events":[]}', "malformed_frame"),
        ('{"type":"batch","events":[{"type":"ping","nonce":"x"}]}', "malformed_frame"),
        ('{"type":"batch","events":[{"type":"event","sid":1}]}', "malformed_frame"),
        ('{"type":"batch","events":[' + ",".join(['{"type":"event"}'] * 1025) + "]}", "malformed_frame"),
    ],
)
def test_bad_frames_are_protocol_errors(data: str | bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        f.decode_frame(data)
    assert caught.value.reason == reason


def test_frames_are_bounded_in_bytes_not_characters() -> None:
    text = json.dumps({"type": "ping", "nonce": "é" * 40}, ensure_ascii=False)
    with pytest.raises(ProtocolError) as caught:
        f.decode_frame(text, max_frame_bytes=len(text) + 10)
    assert caught.value.reason == "frame_too_large"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512) | st.text(max_size=512))
def test_garbage_is_only_ever_a_protocol_error(data: bytes | str) -> None:
    with contextlib.suppress(ProtocolError):
        f.decode_frame(data, max_frame_bytes=256)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
FRAME_FIELDS = [  # every member name a tunnel frame may carry (hostile-input generators use it)
    "sid",
    "versions",
    "connector_id",
    "version",
    "edge_id",
    "request_id",
    "method",
    "path",
    "query",
    "headers",
    "body",
    "principal",
    "status",
    "error",
    "since",
    "agent_id",
    "seq",
    "event_type",
    "json",
    "reason",
    "last_seq",
    "nonce",
    "code",
    "detail",
    "capabilities",
    "events",
]


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(sorted(f._DECODERS)),
    st.dictionaries(st.sampled_from(FRAME_FIELDS), _json, max_size=10),
)
def test_well_formed_json_with_hostile_fields_is_a_frame_or_a_protocol_error(
    kind: str, fields: dict[str, object]
) -> None:
    text = json.dumps({**fields, "type": kind})
    try:
        frame = f.decode_frame(text)
    except ProtocolError:
        return
    assert f.decode_frame(f.encode_frame(frame)) == frame


@settings(deadline=None)
@given(
    body=st.binary(max_size=300),
    headers=st.dictionaries(
        st.text(string.ascii_lowercase, min_size=1, max_size=8), st.text(max_size=20), max_size=5
    ),
    path=st.text(max_size=40).map(lambda p: "/" + p),
    agent=st.text(min_size=1, max_size=12),
)
def test_any_request_round_trips(body: bytes, headers: dict[str, str], path: str, agent: str) -> None:
    frame = f.Request(7, TunnelRequest("r", "POST", path, "", headers, body, Principal(AgentId(agent), "s")))
    assert f.decode_frame(f.encode_frame(frame)) == frame
