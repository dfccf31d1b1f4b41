"""Both protocol sides driven together by Hypothesis: any interleaving of requests, answers, cancels,
attachments, events, detaches and partial pumps keeps the contract."""

from __future__ import annotations

import json

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from edge.tunnel import protocol as p
from edge.tunnel.errors import Conflict
from edge.tunnel.messages import AgentEvent, AgentId, Principal, TunnelRequest, TunnelResponse

MAX_PENDING = 5
AGENTS = ("1001", "1002", "1003")


class TunnelPair(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.edge = p.EdgeSide(edge_id="e")
        self.connector = p.ConnectorSide(connector_id="c", max_pending_events=MAX_PENDING)
        self._pump_all()
        assert self.edge.is_open
        assert self.connector.is_open
        self.edge_open: set[int] = set()  # requests the edge waits for
        self.answered: set[int] = set()  # requests that got an outcome at the edge
        self.connector_todo: list[int] = []  # requests the connector must answer
        self.attachments: dict[int, str] = {}  # the edge's view: sid -> agent
        self.connector_sinks: dict[int, str] = {}
        self.sent_seqs: dict[int, list[int]] = {}  # events the connector accepted, per attachment
        self.received_seqs: dict[int, list[int]] = {}
        self.next_seq = 1

    # --- pumping

    def _pump_all(self) -> None:
        for _ in range(3):
            self._to_connector(None)
            self._to_edge(None)

    def _to_connector(self, count: int | None) -> None:
        for text in self.edge.data_to_send(count):
            self.connector.receive_message(text)
        self._connector_events(self.connector.events_received())

    def _connector_events(self, events: list[p.TunnelEvent]) -> None:
        for event in events:
            match event:
                case p.RequestReceived(sid, _):
                    self.connector_todo.append(sid)
                case p.RequestCancelled(sid):
                    self.connector_todo.remove(sid)
                case p.AttachRequested(sid, principal, _):
                    self.connector_sinks[sid] = principal.agent_id
                    self.sent_seqs[sid] = []
                case p.Detached(sid, _, _) | p.AttachmentOverflowed(sid, _):
                    self.connector_sinks.pop(sid, None)
                case p.HandshakeCompleted() | p.DrainRequested() | p.PongReceived():
                    pass
                case _:
                    raise AssertionError(f"connector saw {event}")

    def _to_edge(self, count: int | None) -> None:
        for text in self.connector.data_to_send(count):
            self.edge.receive_message(text)
        for event in self.edge.events_received():
            match event:
                case p.ResponseReceived(sid, _) | p.RequestFailed(sid, _):
                    assert sid in self.edge_open, "an outcome for a request the edge no longer waits for"
                    assert sid not in self.answered, "two outcomes for one request"
                    self.edge_open.discard(sid)
                    self.answered.add(sid)
                case p.EventReceived(sid, agent_event):
                    assert self.attachments[sid] == agent_event.agent_id
                    self.received_seqs.setdefault(sid, []).append(agent_event.seq)
                case p.Detached(sid, _, _) | p.AttachRefused(sid, _):
                    self.attachments.pop(sid)
                case p.AttachConfirmed(sid):
                    assert sid in self.attachments
                case p.HandshakeCompleted() | p.DrainRequested() | p.PongReceived():
                    pass
                case _:
                    raise AssertionError(f"edge saw {event}")

    # --- rules

    @rule(agent=st.sampled_from((*AGENTS, None)))
    def request(self, agent: str | None) -> None:
        principal = None if agent is None else Principal(AgentId(agent), "s")
        path = "/api/v1/agent" if agent else "/healthz"
        self.edge_open.add(self.edge.send_request(TunnelRequest("r", "GET", path, "", {}, b"", principal)))

    @rule(count=st.integers(1, 4) | st.none())
    def pump_to_connector(self, count: int | None) -> None:
        self._to_connector(count)

    @rule(count=st.integers(1, 4) | st.none())
    def pump_to_edge(self, count: int | None) -> None:
        self._to_edge(count)

    @rule(index=st.integers(0, 10), fail=st.booleans())
    def answer(self, index: int, fail: bool) -> None:
        if self.connector_todo:
            sid = self.connector_todo.pop(index % len(self.connector_todo))
            if fail:
                assert self.connector.send_failure(sid, Conflict("busy", "no"))
            else:
                assert self.connector.send_response(sid, TunnelResponse(200, {}, b"{}"))

    @rule(index=st.integers(0, 10))
    def cancel(self, index: int) -> None:
        if self.edge_open:
            sid = sorted(self.edge_open)[index % len(self.edge_open)]
            self.edge.send_cancel(sid)
            self.edge_open.discard(sid)

    @rule(agent=st.sampled_from(AGENTS), since=st.none() | st.integers(0, 5))
    def attach(self, agent: str, since: int | None) -> None:
        sid = self.edge.send_attach(Principal(AgentId(agent), "s"), since)
        self.attachments[sid] = agent

    @rule(index=st.integers(0, 10), burst=st.integers(1, 8))
    def push(self, index: int, burst: int) -> None:
        if self.connector_sinks:
            sid = sorted(self.connector_sinks)[index % len(self.connector_sinks)]
            agent = self.connector_sinks[sid]
            for _ in range(burst):
                event = AgentEvent(AgentId(agent), self.next_seq, "x", json.dumps({"seq": self.next_seq}))
                if self.connector.send_event(sid, event):
                    self.sent_seqs[sid].append(self.next_seq)
                self.next_seq += 1
            self._connector_events(self.connector.events_received())

    @rule(index=st.integers(0, 10))
    def edge_detach(self, index: int) -> None:
        if self.attachments:
            sid = sorted(self.attachments)[index % len(self.attachments)]
            self.edge.send_detach(sid)
            self.attachments.pop(sid)

    @rule(index=st.integers(0, 10))
    def connector_ends(self, index: int) -> None:
        if self.connector_sinks:
            sid = sorted(self.connector_sinks)[index % len(self.connector_sinks)]
            assert self.connector.send_detach(sid, "ended")
            self.connector_sinks.pop(sid)

    @rule(index=st.integers(0, 10))
    def confirm(self, index: int) -> None:
        if self.connector_sinks:
            self.connector.send_attached(sorted(self.connector_sinks)[index % len(self.connector_sinks)])

    # --- what must always hold

    @invariant()
    def connection_stays_up(self) -> None:
        assert self.edge.failure is None
        assert self.connector.failure is None

    @invariant()
    def unsent_events_are_bounded(self) -> None:
        assert all(self.connector.pending_events(sid) <= MAX_PENDING for sid in self.connector_sinks)

    @invariant()
    def events_arrive_in_order_without_gaps_or_duplicates(self) -> None:
        for sid, seqs in self.received_seqs.items():
            assert seqs == self.sent_seqs[sid][: len(seqs)]

    @invariant()
    def in_flight_counts_agree(self) -> None:
        assert self.edge.requests_in_flight == len(self.edge_open)

    def teardown(self) -> None:
        self._to_connector(None)
        while self.connector_todo:
            self.answer(0, fail=False)
        self._pump_all()
        assert self.edge_open == set(), "every request the edge still waited for got its outcome"


TunnelPair.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_tunnel_pair = TunnelPair.TestCase
