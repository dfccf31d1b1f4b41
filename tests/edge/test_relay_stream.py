"""edge.relay.stream.RelayEventStream on its own: order, the end of the stream, the overflow policy, and
that an idle stream holds no queue (it lives once per open event socket); iterated, and pushing into a
consumer (``edge.events.push``)."""

from __future__ import annotations

import asyncio
import json

from edge.relay.stream import RelayEventStream
from edge.tunnel.messages import AgentEvent, AgentId, Principal
from tests.support.timing import seconds


def _stream(*, max_queued_events: int = 8) -> tuple[RelayEventStream, list[str]]:
    calls: list[str] = []
    stream = RelayEventStream(
        principal=Principal(agent_id=AgentId("1001"), subject="agent-1001"),
        since=None,
        max_queued_events=max_queued_events,
        on_close=lambda _stream: calls.append("closed"),
        on_overflow=lambda _stream: calls.append("overflow"),
        now=lambda: "2026-11-21T10:00:00.000Z",
    )
    return stream, calls


def _event(seq: int, type_: str = "agent.updated") -> AgentEvent:
    return AgentEvent(agent_id=AgentId("1001"), seq=seq, type=type_, json=json.dumps({"seq": seq}))


async def test_events_come_out_in_order_and_an_idle_stream_holds_no_queue() -> None:
    stream, _ = _stream()
    assert not hasattr(stream, "__dict__")
    assert stream.queued == 0
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    assert not waiting.done()
    stream.deliver(_event(1))
    stream.deliver(_event(2))
    stream.deliver(_event(2))  # a duplicate after a re-attach is dropped
    async with asyncio.timeout(seconds(1)):
        assert (await waiting).seq == 1
        assert stream.queued == 1
        assert (await anext(stream)).seq == 2
    assert stream.queued == 0
    assert stream._queue is None  # the point: nothing kept while idle


async def test_end_delivers_what_is_queued_then_stops() -> None:
    stream, _ = _stream()
    stream.deliver(_event(1))
    stream.end()
    stream.deliver(_event(2))  # after the end: ignored
    async with asyncio.timeout(seconds(1)):
        assert [event.seq async for event in stream] == [1]


async def test_end_and_close_wake_a_waiting_consumer() -> None:
    for finish in ("end", "close"):
        stream, calls = _stream()
        consumer = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0)
        if finish == "end":
            stream.end()
        else:
            await stream.close()
            await stream.close()  # twice is fine
            assert calls == ["closed"]
        async with asyncio.timeout(seconds(1)):
            try:
                await consumer
            except StopAsyncIteration:
                pass
            else:
                raise AssertionError(f"{finish}: the stream went on")


async def test_a_full_queue_ends_with_a_resync_alert_after_what_was_queued() -> None:
    stream, calls = _stream(max_queued_events=2)
    for seq in (1, 2, 3):
        stream.deliver(_event(seq))
    assert calls == ["overflow"]
    assert stream.ended
    async with asyncio.timeout(seconds(1)):
        events = [event async for event in stream]
    assert [event.seq for event in events] == [1, 2, 2]
    alert = json.loads(events[-1].json)
    assert alert["type"] == "alert"
    assert alert["data"] == {"kind": "resync", "reason": "consumer_too_slow"}


async def test_a_cancelled_consumer_leaves_the_event_for_the_next_read() -> None:
    stream, _ = _stream()
    consumer = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    stream.deliver(_event(1))
    consumer.cancel()
    async with asyncio.timeout(seconds(1)):
        assert (await anext(stream)).seq == 1


class _Consumer:
    """Takes events while ``taking``; records everything it was handed, and the end."""

    def __init__(self) -> None:
        self.taken: list[int] = []
        self.taking = True
        self.ended = 0

    def take(self, event: AgentEvent) -> bool:
        self.taken.append(event.seq)
        return self.taking

    def stream_ended(self, error: BaseException | None = None) -> None:
        assert error is None
        self.ended += 1


async def test_pushing_hands_what_is_queued_first_then_each_event_as_it_arrives() -> None:
    stream, _ = _stream()
    stream.deliver(_event(1))
    consumer = _Consumer()
    stream.push_to(consumer)
    assert consumer.taken == [1]
    stream.deliver(_event(2))
    stream.deliver(_event(2))  # a duplicate is dropped as when iterated
    assert consumer.taken == [1, 2]
    assert stream.queued == 0


async def test_a_consumer_that_takes_no_more_gets_the_queue_when_it_resumes() -> None:
    stream, _ = _stream()
    consumer = _Consumer()
    stream.push_to(consumer)
    consumer.taking = False
    stream.deliver(_event(1))  # taken, and the consumer can take no more
    stream.deliver(_event(2))
    stream.deliver(_event(3))
    assert (consumer.taken, stream.queued) == ([1], 2)
    consumer.taking = True
    stream.resume()
    assert (consumer.taken, stream.queued) == ([1, 2, 3], 0)


async def test_pushing_past_the_bound_ends_with_resync_after_what_was_queued() -> None:
    stream, calls = _stream(max_queued_events=2)
    consumer = _Consumer()
    stream.push_to(consumer)
    consumer.taking = False
    for seq in range(1, 6):
        stream.deliver(_event(seq))
    assert calls == ["overflow"]
    assert consumer.ended == 0  # not before the consumer had what was queued
    consumer.taking = True
    stream.resume()
    assert consumer.taken[:3] == [1, 2, 3]
    assert len(consumer.taken) == 4  # then the resync alert (an edge-made frame, the last seq)
    assert consumer.taken[3] == 3
    assert consumer.ended == 1


async def test_the_end_reaches_a_pushed_consumer_once_and_close_stops_the_pushing() -> None:
    stream, _ = _stream()
    consumer = _Consumer()
    stream.push_to(consumer)
    stream.end()
    stream.end()
    assert consumer.ended == 1
    other, _ = _stream()
    second = _Consumer()
    other.push_to(second)
    await other.close()
    other.deliver(_event(1))
    assert second.taken == []
    assert second.ended == 0
