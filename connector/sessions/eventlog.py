"""One agent's ordered event stream: sequence numbers, a bounded replay buffer and the subscribers.

Every event except ``snapshot`` advances the agent's ``seq`` by one and is serialised to JSON exactly once
(compact, members ``seq``, ``type``, ``at``, ``data`` in that order);
the same :class:`~edge.tunnel.messages.AgentEvent` goes to every subscriber. A subscriber resuming with
``since`` (the last seq it saw) receives exactly the events after it, in order, when the buffer still holds
them; otherwise (and when it gives no ``since``) it receives a ``snapshot`` carrying the current last seq
and the full agent state, from which it continues. Work per event is O(subscribers of this agent).

A session's stream does not number from 1: it starts where :class:`StreamOrigins` says (the wall clock in
microseconds), so that a ``since`` an app kept from an earlier session — before a sign-out, a connector
restart, or on another connector — never falls among the new session's numbers, where it would replay the
new session's events as if they followed the old ones; it falls outside them and gets a snapshot.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import structlog

from edge.tunnel.messages import AgentEvent, AgentId

_log = structlog.get_logger(__name__)
# What orjson would write where the stdlib refused (a datetime, a dataclass) is refused as before.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# The stdlib's compact encoder, for what orjson refuses (see _encode_frame); built once, not per call.
_encode_with_stdlib = json.JSONEncoder(separators=(",", ":")).encode


def _encode_frame(frame: dict[str, Any]) -> str:
    """Compact JSON text. orjson writes it (the stdlib encoder was ~6 % of the connector's CPU per event);
    what orjson refuses, the stdlib writes as it always did: keys that are not strings spelled as
    strings, integers beyond 64 bits, text with lone surrogates (escaped: the text stays ASCII), and a
    ``TypeError`` for values JSON has no spelling for. NaN and infinities, which no JSON parser reads,
    become ``null``."""
    try:
        return orjson.dumps(frame, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return _encode_with_stdlib(frame)


class EventSink(Protocol):
    """Where an agent's events go: one open event socket, through the tunnel (the tunnel's ``EventSink``
    of :mod:`connector.tunnel.service` has this shape). ``push`` must not block."""

    def push(self, event: AgentEvent) -> None: ...

    def end(self) -> None:
        """End the stream after the events already pushed."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_at(moment: datetime) -> str:
    """``2026-11-21T10:00:00.123Z``: UTC, millisecond precision."""
    # isoformat is several times cheaper than strftime, and this runs for every event.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


class StreamOrigins:
    """The first seq of each new event stream of this process: the wall clock in microseconds (about
    1.8e15 today, well inside the integers a JavaScript number holds exactly), strictly increasing.

    Streams of earlier sessions cannot reach into a new stream's numbers: each advanced by one per event
    from its own origin, and an agent's events come at far less than one a microsecond. A wall clock rather
    than a counter because the earlier session may have lived in another process (a restart, another
    connector); a clock stepped back by more than the time since that session could make the ranges meet,
    which costs at worst the replay this guards against."""

    __slots__ = ("_clock_ns", "_last")

    def __init__(self, *, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._clock_ns = clock_ns
        self._last = 0

    def next_origin(self) -> int:
        origin = max(self._clock_ns() // 1000, self._last + 1)
        self._last = origin
        return origin


class EventLog:
    """The event stream of one agent.

    ``snapshot`` is called for the ``data`` of a snapshot frame (the full agent and dialogs);
    ``now`` gives the time stamped on each frame; ``on_published`` is told the type of every event
    published (metrics); ``first_seq`` is the seq of the first event (a session takes it from
    :class:`StreamOrigins`).
    """

    def __init__(
        self,
        *,
        agent_id: AgentId,
        capacity: int,
        snapshot: Callable[[], Mapping[str, Any]],
        now: Callable[[], datetime] = utc_now,
        on_published: Callable[[str], None] | None = None,
        first_seq: int = 1,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if first_seq < 1:
            raise ValueError("first_seq must be at least 1")
        self._agent_id = agent_id
        # Replay entries are plain ``(seq, type, json)`` tuples, not AgentEvents: tuples of strings and ints
        # are untracked by the cyclic GC, so thousands of agents' buffers neither lengthen its collections
        # nor, by surviving into the oldest generation, trigger full ones (pauses of ~100 ms per agent
        # thousand that showed as the event-latency tail).
        self._buffer: deque[tuple[int, str, str]] = deque(maxlen=capacity)
        self._snapshot = snapshot
        self._now = now
        self._on_published = on_published
        self._sinks: list[EventSink] = []
        # A snapshot before any event carries first_seq - 1: resuming from it misses nothing.
        self._last_seq = first_seq - 1

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def subscriber_count(self) -> int:
        return len(self._sinks)

    def publish(self, type_: str, data: Mapping[str, Any]) -> AgentEvent:
        """Append one event (never ``snapshot``) and push it to every subscriber."""
        if type_ == "snapshot":
            raise ValueError("snapshots are made by subscribe(), never published")
        # Encoded first: data that cannot be encoded (a bug) must not leave a gap in seq.
        event = self._frame(self._last_seq + 1, type_, data)
        self._last_seq = event.seq
        self._buffer.append((event.seq, event.type, event.json))
        for sink in tuple(self._sinks):
            self._push(sink, event)
        if self._on_published is not None:
            self._on_published(type_)
        return event

    def subscribe(self, sink: EventSink, since: int | None = None) -> None:
        """Bring ``sink`` up to date (missed events, or a snapshot), then deliver every new event to it."""
        missed = self.replay(since)
        if missed is None:
            self._push(sink, self.snapshot_event())
        else:
            for event in missed:
                self._push(sink, event)
        if sink not in self._sinks:
            self._sinks.append(sink)

    def unsubscribe(self, sink: EventSink) -> bool:
        """Stop delivering to ``sink``; true when it was subscribed."""
        try:
            self._sinks.remove(sink)
        except ValueError:
            return False
        return True

    def replay(self, since: int | None) -> list[AgentEvent] | None:
        """The events after ``since``, in order; ``None`` when only a snapshot can catch up."""
        if since is None or since < 0 or since > self._last_seq:
            return None
        if since == self._last_seq:
            return []
        if not self._buffer or self._buffer[0][0] > since + 1:
            return None
        start = since + 1 - self._buffer[0][0]
        return [
            AgentEvent(agent_id=self._agent_id, seq=seq, type=type_, json=text)
            for seq, type_, text in itertools.islice(self._buffer, start, None)
        ]

    def snapshot_event(self) -> AgentEvent:
        """A ``snapshot`` frame carrying the current last seq (it does not advance it)."""
        return self._frame(self._last_seq, "snapshot", self._snapshot())

    def close(self) -> None:
        """End every subscriber's stream after what was pushed (the session ended) and forget them."""
        sinks, self._sinks = self._sinks, []
        for sink in sinks:
            try:
                sink.end()
            except Exception:
                _log.exception("event_sink_end_failed", agent_id=self._agent_id)

    def _frame(self, seq: int, type_: str, data: Mapping[str, Any]) -> AgentEvent:
        frame = {"seq": seq, "type": type_, "at": format_at(self._now()), "data": data}
        return AgentEvent(agent_id=self._agent_id, seq=seq, type=type_, json=_encode_frame(frame))

    def _push(self, sink: EventSink, event: AgentEvent) -> None:
        # A broken sink must not stop delivery to the others; the tunnel detaches it when it notices.
        try:
            sink.push(event)
        except Exception:
            _log.exception("event_sink_failed", agent_id=self._agent_id, seq=event.seq)
            self.unsubscribe(sink)
