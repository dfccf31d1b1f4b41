"""Hypothesis strategies: every kind of valid tunnel frame, within the decoder's bounds, and JSON values
for the free-form members (a failure's error extras)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from edge.tunnel import frames as f
from edge.tunnel.messages import AgentEvent, AgentId, Principal, TunnelRequest, TunnelResponse

# Text as a peer may carry it: any Unicode scalar value (Hypothesis leaves out lone surrogates), with
# the characters JSON must escape and the ones it need not over-represented.
_AWKWARD = '"\\/\x00\x1f\x7f\u2028\u2029\ufeffé€😀'
_text_char = st.characters(codec="utf-8") | st.sampled_from(_AWKWARD)


def text(*, max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(_text_char, min_size=min_size, max_size=max_size)


_names = text(max_size=24)
_name_tuples = st.lists(_names, max_size=5).map(tuple)
stream_ids = st.integers(1, f.MAX_STREAM_ID)
_counters = st.integers(0, f.MAX_STREAM_ID)
_int64 = st.integers(-(2**63), 2**63 - 1)
_finite = st.floats(allow_nan=False, allow_infinity=False)

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | _int64 | _finite | text(max_size=16),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text(max_size=8), inner, max_size=4),
    max_leaves=16,
)

principals = st.builds(
    Principal,
    agent_id=text(min_size=1, max_size=16).map(AgentId),
    subject=text(max_size=40),
    scopes=_name_tuples,
    token=st.none() | text(max_size=200),
    token_expires_at=st.none() | _finite,
)
_headers = st.dictionaries(text(min_size=1, max_size=20), text(max_size=40), max_size=6)
requests = st.builds(
    TunnelRequest,
    request_id=_names,
    method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH"]),
    path=text(max_size=60).map(lambda tail: "/" + tail),
    query=text(max_size=60),
    headers=_headers,
    body=st.binary(max_size=300),
    principal=st.none() | principals,
)
responses = st.builds(
    TunnelResponse, status=st.integers(100, 599), headers=_headers, body=st.binary(max_size=300)
)
errors = st.builds(
    lambda status, code, detail, extra: {**extra, "status": status, "code": code, "detail": detail},
    st.integers(400, 599),
    _names,
    text(max_size=80),
    st.dictionaries(text(min_size=1, max_size=12), json_values, max_size=4),
)
events = st.builds(
    lambda sid, agent, seq, type_, data: f.Event(sid, AgentEvent(agent, seq, type_, data)),
    stream_ids,
    text(max_size=16).map(AgentId),
    _counters,
    text(max_size=30),
    text(max_size=400),
)

frames: st.SearchStrategy[f.Frame] = st.one_of(
    st.builds(
        f.Hello, st.lists(st.integers(1, 2**31), min_size=1, max_size=5).map(tuple), _names, _name_tuples
    ),
    st.builds(f.Welcome, st.integers(1, f.MAX_STREAM_ID), _names, _name_tuples),
    st.builds(f.Request, stream_ids, requests),
    st.builds(f.Response, stream_ids, responses),
    st.builds(f.Failure, stream_ids, errors),
    st.builds(f.Cancel, stream_ids),
    st.builds(f.Attach, stream_ids, principals, st.none() | _counters),
    st.builds(f.Attached, stream_ids),
    events,
    st.builds(f.Detach, stream_ids, st.sampled_from(sorted(f.DETACH_REASONS)), st.none() | _counters),
    st.builds(f.Ping, text(max_size=64)),
    st.builds(f.Pong, text(max_size=64)),
    st.just(f.Drain()),
    st.builds(f.Error, _names, text(max_size=200)),
    st.lists(events, min_size=1, max_size=4).map(lambda items: f.Batch(tuple(items))),
)
