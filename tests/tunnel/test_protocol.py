"""The two protocol sides, frames in / frames out, with no event loop."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.tunnel import frames as f
from edge.tunnel import protocol as p
from edge.tunnel.errors import NotFound, PayloadTooLarge, ProtocolError
from edge.tunnel.messages import AgentEvent, AgentId, Principal, TunnelRequest, TunnelResponse

AGENT = Principal(AgentId("1001"), "user-1001")


def pump(source: p.EdgeSide | p.ConnectorSide, target: p.EdgeSide | p.ConnectorSide) -> list[p.TunnelEvent]:
    for text in source.data_to_send():
        target.receive_message(text)
    return target.events_received()


def pair(**connector_options: object) -> tuple[p.EdgeSide, p.ConnectorSide]:
    edge = p.EdgeSide(edge_id="e1", capabilities=("a", "b"))
    connector = p.ConnectorSide(connector_id="c1", capabilities=("b", "c"), **connector_options)  # type: ignore[arg-type]
    assert pump(connector, edge) == [p.HandshakeCompleted(1, "c1", ("b",))]
    assert pump(edge, connector) == [p.HandshakeCompleted(1, "e1", ("b",))]
    return edge, connector


def call(path: str = "/api/v1/agent", principal: Principal | None = AGENT) -> TunnelRequest:
    return TunnelRequest("r1", "GET", path, "", {}, b"", principal)


def event(seq: int, agent: str = "1001") -> AgentEvent:
    return AgentEvent(AgentId(agent), seq, "dialog.updated", json.dumps({"seq": seq}))


def frames_of(side: p.EdgeSide | p.ConnectorSide) -> list[f.Frame]:
    return [f.decode_frame(text) for text in side.data_to_send()]


def test_request_response_and_late_answer_after_cancel() -> None:
    edge, connector = pair()
    sid = edge.send_request(call())
    assert pump(edge, connector) == [p.RequestReceived(sid, call())]
    response = TunnelResponse(200, {}, b"{}")
    assert connector.send_response(sid, response)
    assert pump(connector, edge) == [p.ResponseReceived(sid, response)]

    late = edge.send_request(call())
    pump(edge, connector)
    edge.send_cancel(late)
    assert pump(edge, connector) == [p.RequestCancelled(late)]
    assert not connector.send_response(late, response)  # cancelled: nothing is sent
    assert edge.requests_in_flight == 0
    assert connector.requests_in_flight == 0


def test_failure_becomes_the_most_specific_api_error() -> None:
    edge, connector = pair()
    sid = edge.send_request(call())
    pump(edge, connector)
    connector.send_failure(sid, NotFound("no_such_dialog", "gone", dialog_id="7"))
    [failed] = pump(connector, edge)
    assert isinstance(failed, p.RequestFailed)
    assert isinstance(failed.error, NotFound)
    assert failed.error.extra == {"dialog_id": "7"}


def test_agent_route_without_principal_is_answered_401_without_reaching_the_service() -> None:
    edge, connector = pair()
    edge.send_request(call(principal=None))
    assert pump(edge, connector) == []
    [failed] = pump(connector, edge)
    assert isinstance(failed, p.RequestFailed)
    assert (failed.error.status, failed.error.code) == (401, "principal_required")


def test_non_agent_route_without_principal_is_allowed() -> None:
    edge, connector = pair()
    sid = edge.send_request(call("/healthz", principal=None))
    assert pump(edge, connector) == [p.RequestReceived(sid, call("/healthz", principal=None))]


def test_draining_connector_refuses_new_work_but_answers_what_it_has() -> None:
    edge, connector = pair()
    old = edge.send_request(call())
    pump(edge, connector)
    connector.send_drain()
    assert pump(connector, edge) == [p.DrainRequested()]
    assert edge.peer_draining
    new = edge.send_request(call())
    attach = edge.send_attach(AGENT, None)
    assert pump(edge, connector) == []
    refusals = pump(connector, edge)
    assert [(type(e), e.sid) for e in refusals] == [(p.RequestFailed, new), (p.AttachRefused, attach)]  # type: ignore[union-attr]
    assert connector.send_response(old, TunnelResponse(200, {}, b""))
    assert pump(connector, edge) == [p.ResponseReceived(old, TunnelResponse(200, {}, b""))]


def test_attach_events_and_detach_both_ways() -> None:
    edge, connector = pair()
    sid = edge.send_attach(AGENT, 5)
    assert pump(edge, connector) == [p.AttachRequested(sid, AGENT, 5)]
    assert connector.send_event(sid, event(6))
    assert connector.send_attached(sid)
    assert pump(connector, edge) == [p.EventReceived(sid, event(6)), p.AttachConfirmed(sid)]
    assert connector.send_detach(sid, "ended")
    assert pump(connector, edge) == [p.Detached(sid, "ended", 6)]
    assert not connector.send_event(sid, event(7))

    again = edge.send_attach(AGENT, 6)
    pump(edge, connector)
    edge.send_detach(again)
    assert pump(edge, connector) == [p.Detached(again, "closed", None)]


def test_events_after_detach_are_late_not_errors() -> None:
    edge, connector = pair()
    sid = edge.send_attach(AGENT, None)
    pump(edge, connector)
    connector.send_event(sid, event(1))
    edge.send_detach(sid)
    assert pump(connector, edge) == []
    assert edge.late_frames == 1
    assert edge.is_open


def test_an_event_for_another_agent_fails_the_connection() -> None:
    edge, connector = pair()
    sid = edge.send_attach(AGENT, None)
    pump(edge, connector)
    assert not connector.send_event(sid, event(1, agent="2002"))  # the connector refuses to send it
    edge.receive_message(f.encode_frame(f.Event(sid, event(1, agent="2002"))))  # a broken peer does anyway
    [failed] = edge.events_received()
    assert isinstance(failed, p.ConnectionFailed)
    assert failed.error.reason == "wrong_agent"


def test_unsent_events_are_bounded_per_attachment_then_dropped_with_resync() -> None:
    edge, connector = pair(max_pending_events=8)
    stalled = edge.send_attach(AGENT, None)
    other = edge.send_attach(Principal(AgentId("2002"), "s"), None)
    pump(edge, connector)
    connector.events_received()
    accepted = [connector.send_event(stalled, event(seq)) for seq in range(1, 100)]
    assert accepted == [True] * 8 + [False] * 91
    assert connector.events_received() == [p.AttachmentOverflowed(stalled, AgentId("1001"))]
    assert connector.pending_events(stalled) == 0  # forgotten: nothing more is queued for it
    assert connector.send_event(other, event(1, agent="2002"))  # other attachments are unaffected
    sent = frames_of(connector)
    assert len(sent) == 8 + 1 + 1
    assert sent[8] == f.Detach(stalled, "resync", 8)


def test_pending_count_falls_as_frames_leave() -> None:
    edge, connector = pair(max_pending_events=4)
    sid = edge.send_attach(AGENT, None)
    pump(edge, connector)
    for seq in range(1, 5):
        assert connector.send_event(sid, event(seq))
    assert connector.pending_events(sid) == 4
    assert len(connector.data_to_send(max_frames=3)) == 3
    assert connector.pending_events(sid) == 1
    assert connector.send_event(sid, event(5))


def test_oversized_frames_are_refused_before_they_are_sent() -> None:
    edge = p.EdgeSide(edge_id="e", max_frame_bytes=2048)
    connector = p.ConnectorSide(connector_id="c", max_frame_bytes=2048)
    pump(connector, edge)
    pump(edge, connector)
    with pytest.raises(PayloadTooLarge):
        edge.send_request(TunnelRequest("r", "POST", "/api/v1/x", "", {}, b"x" * 4096, AGENT))
    sid = edge.send_request(call())
    pump(edge, connector)
    connector.send_response(sid, TunnelResponse(200, {}, b"y" * 4096))
    [failed] = pump(connector, edge)
    assert isinstance(failed, p.RequestFailed)
    assert failed.error.code == "response_too_large"


def test_version_negotiation_picks_the_highest_common_version() -> None:
    edge = p.EdgeSide(edge_id="e", versions=(1, 2, 3))
    connector = p.ConnectorSide(connector_id="c", versions=(2, 3, 4))
    assert pump(connector, edge) == [p.HandshakeCompleted(3, "c", ("batch",))]
    assert pump(edge, connector) == [p.HandshakeCompleted(3, "e", ("batch",))]


def test_version_mismatch_is_refused_with_an_error_frame() -> None:
    edge = p.EdgeSide(edge_id="e", versions=(1,))
    connector = p.ConnectorSide(connector_id="c", versions=(2,))
    [failed] = pump(connector, edge)
    assert isinstance(failed, p.ConnectionFailed)
    assert failed.error.reason == "version_mismatch"
    [told] = pump(edge, connector)
    assert isinstance(told, p.ConnectionFailed)
    assert told.by_peer
    assert told.error.reason == "version_mismatch"
    assert connector.phase is p.Phase.CLOSED


def test_work_before_the_handshake_fails_the_connection() -> None:
    edge = p.EdgeSide(edge_id="e")
    edge.receive_message(f.encode_frame(f.Response(1, TunnelResponse(200, {}, b""))))
    [failed] = edge.events_received()
    assert isinstance(failed, p.ConnectionFailed)
    assert failed.error.reason == "handshake_required"
    assert [f.decode_frame(text) for text in edge.data_to_send()] == [
        f.Error("handshake_required", "response before the handshake")
    ]
    with pytest.raises(ProtocolError):
        edge.send_request(call())


def test_frames_for_the_other_direction_fail_the_connection() -> None:
    _edge, connector = pair()
    connector.receive_message(f.encode_frame(f.Response(1, TunnelResponse(200, {}, b""))))
    [failed] = connector.events_received()
    assert isinstance(failed, p.ConnectionFailed)
    assert failed.error.reason == "unexpected_frame"
    connector.receive_message(f.encode_frame(f.Ping("x")))  # after failure, input is ignored
    assert connector.events_received() == []


def test_duplicate_stream_ids_fail_the_connection() -> None:
    _edge, connector = pair()
    text = f.encode_frame(f.Request(1, call()))
    connector.receive_message(text)
    connector.receive_message(text)
    assert isinstance(connector.events_received()[-1], p.ConnectionFailed)


def test_ping_is_answered_with_pong() -> None:
    edge, connector = pair()
    edge.send_ping("n1")
    assert pump(edge, connector) == []
    assert pump(connector, edge) == [p.PongReceived("n1")]


_frames = st.sampled_from(
    [
        f.encode_frame(frame)
        for frame in (
            f.Request(1, call()),
            f.Request(2, call(principal=None)),
            f.Cancel(1),
            f.Cancel(99),
            f.Attach(3, AGENT, None),
            f.Attach(3, AGENT, 4),
            f.Detach(3, "closed"),
            f.Detach(77, "ended"),
            f.Ping("p"),
            f.Pong("p"),
            f.Drain(),
            f.Response(1, TunnelResponse(200, {}, b"")),
            f.Welcome(1, "e"),
            f.Hello((1,), "c"),
            f.Event(3, event(1)),
            f.Error("boom"),
        )
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_frames | st.binary(max_size=64) | st.text(max_size=64), max_size=30))
def test_any_message_sequence_never_raises_and_failure_is_final(messages: list[str | bytes]) -> None:
    for side in pair():
        for message in messages:
            side.receive_message(message)
        events = side.events_received()
        failures = [e for e in events if isinstance(e, p.ConnectionFailed)]
        assert len(failures) <= 1
        if failures:
            assert events[-1] is failures[0]
            assert side.phase is p.Phase.CLOSED
        side.data_to_send()


def batching_pair(max_frame_bytes: int = f.DEFAULT_MAX_FRAME_BYTES) -> tuple[p.EdgeSide, p.ConnectorSide]:
    edge = p.EdgeSide(edge_id="e", max_frame_bytes=max_frame_bytes)
    connector = p.ConnectorSide(connector_id="c", max_frame_bytes=max_frame_bytes)
    pump(connector, edge)
    pump(edge, connector)
    return edge, connector


def test_consecutive_events_leave_as_one_batch_in_order() -> None:
    edge, connector = batching_pair()
    first = edge.send_attach(AGENT, None)
    second = edge.send_attach(Principal(AgentId("2002"), "s"), None)
    pump(edge, connector)
    connector.events_received()
    for seq in range(1, 4):
        connector.send_event(first, event(seq))
        connector.send_event(second, event(seq, agent="2002"))
    connector.send_attached(first)
    connector.send_event(first, event(4))
    messages = connector.data_to_send()
    assert [json.loads(m)["type"] for m in messages] == ["batch", "attached", "event"]
    assert connector.pending_events(first) == 0
    for message in messages:
        edge.receive_message(message)
    received = [(e.sid, e.event.seq) for e in edge.events_received() if isinstance(e, p.EventReceived)]
    assert received == [(first, 1), (second, 1), (first, 2), (second, 2), (first, 3), (second, 3), (first, 4)]


def test_batches_respect_the_frame_limit() -> None:
    edge, connector = batching_pair(max_frame_bytes=4096)
    sid = edge.send_attach(AGENT, None)
    pump(edge, connector)
    for seq in range(1, 101):
        assert connector.send_event(sid, event(seq))
    messages = connector.data_to_send()
    assert len(messages) > 1
    assert all(len(message) <= 4096 for message in messages)
    for message in messages:
        edge.receive_message(message)
    seqs = [e.event.seq for e in edge.events_received() if isinstance(e, p.EventReceived)]
    assert seqs == list(range(1, 101))


def test_a_batch_without_the_capability_fails_the_connection() -> None:
    edge, connector = pair()  # capabilities without "batch"
    sid = edge.send_attach(AGENT, None)
    pump(edge, connector)
    edge.receive_message(f.encode_frame(f.Batch((f.Event(sid, event(1)),))))
    [failed] = edge.events_received()
    assert isinstance(failed, p.ConnectionFailed)
    assert failed.error.reason == "unexpected_frame"
