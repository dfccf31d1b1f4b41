"""One app socket's subscription to an agent's events, as the edge holds it.

The tunnel reader must never wait for an app: a slow or stalled consumer would stall every agent on that
connection. So each stream has a bounded queue, and the policy when it is full is to drop the stream with
a ``resync`` marker: the consumer receives what is queued, then an ``alert`` (``{"kind": "resync"}``), then
the iteration ends; the app reconnects with ``?since=`` and the connector's replay buffer covers the gap.
Nothing is lost silently and memory stays bounded.

Frames the edge makes itself (alerts) carry the last delivered ``seq`` and do not advance it.

The consumer either iterates the stream or has it push events (:meth:`RelayEventStream.push_to`, what the
edge's event socket does): then each event is handed over from the tunnel reader's own call, and the queue
fills only while the consumer says it can take no more.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from edge.tunnel.messages import AgentEvent, Principal

if TYPE_CHECKING:
    from edge.events.push import EventConsumer
    from edge.relay.link import EdgeLink


def utc_timestamp() -> str:
    """``2026-11-21T10:00:00.123Z``: the event frame's ``at`` format."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class RelayEventStream:
    """Implements ``edge.upstream.EventStream``: events in order, then the end of the stream.

    One lives per open event socket, mostly idle, so it is slotted and holds no container while empty:
    the queue is a list made on the first event (a deque allocates a 64-slot block even when empty), and
    the one consumer waits on a future of its own rather than an ``asyncio.Event`` (an object, a dict and
    a deque of waiters per stream). The queue is short (``max_queued_events``), so taking from the front
    of a list costs nothing that matters.
    """

    __slots__ = (
        "_closed",
        "_consumer",
        "_ended",
        "_now",
        "_on_close",
        "_on_overflow",
        "_paused",
        "_queue",
        "_waiter",
        "attached",
        "awaiting_recovery",
        "last_seq",
        "link",
        "max_queued_events",
        "principal",
        "sid",
        "since",
    )

    def __init__(
        self,
        *,
        principal: Principal,
        since: int | None,
        max_queued_events: int,
        on_close: Callable[[RelayEventStream], None],
        on_overflow: Callable[[RelayEventStream], None],
        now: Callable[[], str] = utc_timestamp,
    ) -> None:
        self.principal = principal
        self.since = since
        self.last_seq: int | None = None
        """The seq of the last connector event queued for the consumer."""
        self.max_queued_events = max_queued_events
        self.link: EdgeLink | None = None
        """The tunnel connection this stream is attached through (the relay sets it), or None."""
        self.sid: int | None = None
        self.attached: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.awaiting_recovery = False
        """A ``connector_lost`` alert went out; the next confirmed re-attach sends ``connector_recovered``."""
        self._on_close = on_close
        self._on_overflow = on_overflow
        self._now = now
        self._queue: list[AgentEvent] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._consumer: EventConsumer | None = None
        self._paused = False
        self._ended = False
        self._closed = False

    @property
    def agent_id(self) -> str:
        return self.principal.agent_id

    @property
    def resume_seq(self) -> int | None:
        """Where a re-attach resumes: after the last event queued, else where the app asked to start."""
        return self.last_seq if self.last_seq is not None else self.since

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def queued(self) -> int:
        return len(self._queue) if self._queue is not None else 0

    def deliver(self, event: AgentEvent) -> None:
        """Queue one connector event; on overflow, end with ``resync`` and tell the owner."""
        if self._ended:
            return
        # After a re-attach the connector replays from resume_seq; anything at or before it is a duplicate.
        # A snapshot carries the current seq without advancing it, so it is never one.
        if event.type != "snapshot" and self.last_seq is not None and event.seq <= self.last_seq:
            return
        if self.queued >= self.max_queued_events:
            self.end_with_resync("consumer_too_slow")
            self._on_overflow(self)
            return
        self._put(event)
        self.last_seq = event.seq

    def alert(self, kind: str, **data: Any) -> None:
        """Queue an edge-made ``alert`` (e.g. ``connector_lost``); it may exceed the bound by one."""
        if not self._ended:
            self._put(self._edge_event("alert", {"kind": kind, **data}))

    def end(self) -> None:
        """The connector ended the stream: deliver what is queued, then stop."""
        self._ended = True
        self._wake()
        self._push()

    def end_with_resync(self, reason: str) -> None:
        """Deliver what is queued, then an ``alert`` of kind ``resync``, then stop."""
        if not self._ended:
            self._put(self._edge_event("alert", {"kind": "resync", "reason": reason}))
        self.end()

    def __aiter__(self) -> RelayEventStream:
        return self

    async def __anext__(self) -> AgentEvent:
        while not self._queue:
            if self._ended or self._closed:
                raise StopAsyncIteration
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        event = self._queue.pop(0)
        if not self._queue:
            self._queue = None  # an idle stream holds no list
        return event

    async def close(self) -> None:
        """Detach from the connector; safe to call more than once."""
        if not self._closed:
            self._closed = True
            self._ended = True
            self._queue = None
            self._consumer = None
            self._wake()
            self._on_close(self)

    def push_to(self, consumer: EventConsumer) -> None:
        """Push mode (``edge.events.push.PushEventStream``), instead of iteration: hand ``consumer`` what
        is queued and every later event, in order, as it arrives, then the end. While the consumer says it
        can take no more, events queue here as for a slow iterating consumer."""
        self._consumer = consumer
        self.resume()

    def resume(self) -> None:
        """The consumer takes events again: hand it what is queued."""
        self._paused = False
        self._push()

    def _push(self) -> None:
        while (consumer := self._consumer) is not None and not self._paused:
            if self._queue:
                event = self._queue.pop(0)
                if not self._queue:
                    self._queue = None
                self._paused = not consumer.take(event)
            elif self._ended:
                self._consumer = None
                consumer.stream_ended()
            else:
                return

    def _put(self, event: AgentEvent) -> None:
        consumer = self._consumer
        if consumer is not None and not self._paused and self._queue is None:
            self._paused = not consumer.take(event)  # the usual case: straight through, no list
            return
        if self._queue is None:
            self._queue = [event]
        else:
            self._queue.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _edge_event(self, type_: str, data: dict[str, Any]) -> AgentEvent:
        seq = self.resume_seq or 0
        text = json.dumps({"seq": seq, "type": type_, "at": self._now(), "data": data}, separators=(",", ":"))
        return AgentEvent(agent_id=self.principal.agent_id, seq=seq, type=type_, json=text)
