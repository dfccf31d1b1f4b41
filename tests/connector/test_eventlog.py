"""The per-agent event log: seq, replay exactness, snapshot on gaps, one serialisation per event."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.sessions.eventlog import EventLog, StreamOrigins, format_at
from edge.tunnel.messages import AgentEvent, AgentId


class Collect:
    def __init__(self) -> None:
        self.events: list[AgentEvent] = []
        self.ended = False

    def push(self, event: AgentEvent) -> None:
        self.events.append(event)

    def end(self) -> None:
        self.ended = True


class Broken(Collect):
    def push(self, event: AgentEvent) -> None:
        raise RuntimeError("socket gone")


def make_log(capacity: int = 4) -> EventLog:
    return EventLog(
        agent_id=AgentId("1001"),
        capacity=capacity,
        snapshot=lambda: {"agent": {"id": "1001"}, "dialogs": []},
        now=lambda: datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC),
    )


def test_frame_shape_and_seq() -> None:
    log = make_log()
    first = log.publish("agent.updated", {"state": "READY"})
    second = log.publish("dialog.created", {"id": "7"})
    assert (first.seq, second.seq) == (1, 2)
    assert json.loads(first.json) == {
        "seq": 1,
        "type": "agent.updated",
        "at": "2026-11-21T10:00:00.123Z",
        "data": {"state": "READY"},
    }
    assert first.agent_id == "1001"


def test_first_frame_without_since_is_snapshot_with_last_seq() -> None:
    log = make_log()
    log.publish("agent.updated", {})
    sink = Collect()
    log.subscribe(sink)
    assert [(e.type, e.seq) for e in sink.events] == [("snapshot", 1)]
    assert json.loads(sink.events[0].json)["data"]["agent"] == {"id": "1001"}
    # A snapshot does not advance seq.
    assert log.publish("agent.updated", {}).seq == 2


def test_resume_replays_exactly_the_missed_events() -> None:
    log = make_log(capacity=4)
    for n in range(3):
        log.publish("agent.updated", {"n": n})
    sink = Collect()
    log.subscribe(sink, since=1)
    log.publish("dialog.created", {})
    assert [e.seq for e in sink.events] == [2, 3, 4]


def test_resume_at_head_gets_nothing_then_live_events() -> None:
    log = make_log()
    log.publish("agent.updated", {})
    sink = Collect()
    log.subscribe(sink, since=1)
    assert sink.events == []
    log.publish("agent.updated", {})
    assert [e.seq for e in sink.events] == [2]


@pytest.mark.parametrize("since", [0, 1, -5, 99])
def test_gap_or_nonsense_since_gets_snapshot(since: int) -> None:
    log = make_log(capacity=2)
    for _ in range(5):
        log.publish("agent.updated", {})
    sink = Collect()
    log.subscribe(sink, since=since)
    assert [(e.type, e.seq) for e in sink.events] == [("snapshot", 5)]


def test_same_event_object_goes_to_every_sink() -> None:
    log = make_log()
    a, b = Collect(), Collect()
    log.subscribe(a, since=0)
    log.subscribe(b, since=0)
    log.publish("agent.updated", {})
    assert a.events[-1] is b.events[-1]


def test_broken_sink_is_dropped_without_hurting_others() -> None:
    log = make_log()
    good = Collect()
    log.subscribe(Broken(), since=0)
    log.subscribe(good, since=0)
    log.publish("agent.updated", {})
    assert log.subscriber_count == 1
    assert [e.seq for e in good.events] == [1]


def test_close_ends_every_stream() -> None:
    log = make_log()
    a, b = Collect(), Collect()
    log.subscribe(a, since=0)
    log.subscribe(b, since=0)
    log.close()
    assert a.ended
    assert b.ended
    assert log.subscriber_count == 0


def test_unsubscribe_and_snapshot_type_is_reserved() -> None:
    log = make_log()
    sink = Collect()
    log.subscribe(sink, since=0)
    assert log.unsubscribe(sink) is True
    assert log.unsubscribe(sink) is False
    with pytest.raises(ValueError, match="snapshot"):
        log.publish("snapshot", {})


def test_format_at_is_utc_milliseconds() -> None:
    assert format_at(datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)) == "2026-01-02T03:04:05.006Z"


@given(
    capacity=st.integers(min_value=1, max_value=16),
    published=st.integers(min_value=0, max_value=60),
    since=st.one_of(st.none(), st.integers(min_value=-3, max_value=70)),
)
def test_resume_is_exact_or_snapshot(capacity: int, published: int, since: int | None) -> None:
    """Whatever the history, a resuming client ends up with every event after ``since`` exactly once, in
    order, or with a snapshot at the head from which nothing is missing."""
    log = make_log(capacity=capacity)
    for n in range(published):
        log.publish("agent.updated", {"n": n})
    sink = Collect()
    log.subscribe(sink, since=since)
    log.publish("dialog.created", {})
    frames = [(e.type, e.seq) for e in sink.events]
    covered = since is not None and 0 <= since <= published and published - since <= capacity
    if covered:
        assert since is not None
        assert frames == [("agent.updated", s) for s in range(since + 1, published + 1)] + [
            ("dialog.created", published + 1)
        ]
    else:
        assert frames == [("snapshot", published), ("dialog.created", published + 1)]


def test_stream_origins_follow_the_clock_in_microseconds_and_never_repeat() -> None:
    clock = iter([1_800_000_000_000_000_123, 1_800_000_000_000_000_999, 1_799_999_999_000_000_000])
    origins = StreamOrigins(clock_ns=lambda: next(clock))
    # Two sessions in the same microsecond, then the clock stepped back: still strictly increasing.
    assert [origins.next_origin() for _ in range(3)] == [
        1_800_000_000_000_000,
        1_800_000_000_000_001,
        1_800_000_000_000_002,
    ]
    assert StreamOrigins().next_origin() < 2**53  # exact in a JavaScript number


def test_a_stream_numbers_from_its_first_seq_and_its_first_snapshot_misses_nothing() -> None:
    log = EventLog(agent_id=AgentId("1001"), capacity=4, snapshot=dict, first_seq=5_000)
    early = Collect()
    log.subscribe(early)
    assert [(e.type, e.seq) for e in early.events] == [("snapshot", 4_999)]
    assert log.publish("agent.updated", {}).seq == 5_000
    resumed = Collect()
    log.subscribe(resumed, since=4_999)
    assert [(e.type, e.seq) for e in resumed.events] == [("agent.updated", 5_000)]
    with pytest.raises(ValueError, match="first_seq"):
        EventLog(agent_id=AgentId("1001"), capacity=4, snapshot=dict, first_seq=0)


@given(
    earlier_events=st.integers(min_value=0, max_value=500),
    later_events=st.integers(min_value=0, max_value=500),
    gap_us=st.integers(min_value=0, max_value=10**9),
    seen=st.integers(min_value=0, max_value=500),
)
def test_a_since_from_an_earlier_session_gets_a_snapshot_never_a_replay(
    earlier_events: int, later_events: int, gap_us: int, seen: int
) -> None:
    """Whatever an app saw of an earlier session's stream (a sign-out, a connector restart in between),
    resuming against the new session's stream gives a snapshot, not the new session's events as if
    they followed the old ones."""
    now_ns = [1_800_000_000_000_000_000]
    origins = StreamOrigins(clock_ns=lambda: now_ns[0])
    earlier = EventLog(agent_id=AgentId("1001"), capacity=600, snapshot=dict, first_seq=origins.next_origin())
    for _ in range(earlier_events):
        earlier.publish("agent.updated", {})
        now_ns[0] += 200_000  # an event every 0.2 ms: far faster than any agent's
    since = earlier.last_seq - min(seen, earlier_events)
    now_ns[0] += gap_us * 1000
    later = EventLog(agent_id=AgentId("1001"), capacity=600, snapshot=dict, first_seq=origins.next_origin())
    for _ in range(later_events):
        later.publish("agent.updated", {})
    sink = Collect()
    later.subscribe(sink, since=since)
    assert [e.type for e in sink.events] == ["snapshot"]
