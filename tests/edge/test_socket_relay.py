"""The event socket's relay (edge.events.socket.SocketRelay) against a recording channel (the
``SocketChannel`` seam) and the relay's own pushing stream: events written from the stream's own call,
flow control, the outcomes, the clock, and a bug that must never reach the tunnel reader."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from starlette.types import Message

from edge.events.channel import MessageListener, WriteResult
from edge.events.close_codes import CloseCode
from edge.events.socket import SocketRelay
from edge.policy import EventsPolicy
from edge.relay.stream import RelayEventStream
from edge.tunnel.messages import AgentEvent, AgentId, Principal
from tests.support.timing import seconds


class RecordingChannel:
    """Writes what it is given while ``result`` is WRITTEN; FULL and GONE write nothing."""

    def __init__(self) -> None:
        self.written: list[dict[str, object]] = []
        self.result = WriteResult.WRITTEN
        self.on_writable: Callable[[], None] | None = None
        self.listener: MessageListener | None = None
        self.fail_with: Exception | None = None

    def write_text(self, text: str) -> WriteResult:
        if self.fail_with is not None:
            raise self.fail_with
        if self.result is WriteResult.WRITTEN:
            self.written.append(json.loads(text))
        return self.result

    def when_writable(self, callback: Callable[[], None]) -> None:
        self.on_writable = callback

    def listen(self, listener: MessageListener | None) -> None:
        self.listener = listener

    def writable_again(self) -> None:
        self.result = WriteResult.WRITTEN
        callback, self.on_writable = self.on_writable, None
        assert callback is not None
        callback()

    def seqs(self) -> list[object]:
        return [frame["seq"] if frame["type"] != "alert" else frame["data"] for frame in self.written]


PRINCIPAL = Principal(agent_id=AgentId("1001"), subject="user-1001")


def event(seq: int, type_: str = "dialog.updated") -> AgentEvent:
    frame = {"seq": seq, "type": type_, "at": "2026-11-21T10:00:00.000Z", "data": {}}
    return AgentEvent(PRINCIPAL.agent_id, seq, type_, json.dumps(frame))


def stream(max_queued_events: int = 100) -> RelayEventStream:
    made = RelayEventStream(
        principal=PRINCIPAL,
        since=None,
        max_queued_events=max_queued_events,
        on_close=lambda _stream: None,
        on_overflow=lambda _stream: None,
    )
    made.attached.set_result(None)
    return made


def relay(
    channel: RecordingChannel,
    source: RelayEventStream,
    *,
    heartbeat_s: float = 30.0,
    principal: Principal = PRINCIPAL,
) -> SocketRelay:
    policy = EventsPolicy(heartbeat_s=heartbeat_s, max_message_bytes=64)
    return SocketRelay(channel=channel, stream=source, principal=principal, policy=policy)


async def started(socket_relay: SocketRelay, since: int = 0) -> asyncio.Task[CloseCode | None]:
    task = asyncio.create_task(socket_relay.run(since))
    await asyncio.sleep(0)  # run() listens, arms its timer and has the stream push
    return task


async def test_events_are_written_from_the_streams_own_call_in_order() -> None:
    channel, source = RecordingChannel(), stream()
    source.deliver(event(1, "snapshot"))  # before the socket was accepted: queued
    task = await started(relay(channel, source))
    assert channel.seqs() == [1]
    source.deliver(event(2))
    source.deliver(event(3))
    assert channel.seqs() == [1, 2, 3]  # no task switch between the tunnel reader and the socket
    assert source.queued == 0
    assert channel.listener is not None
    channel.listener({"type": "websocket.disconnect", "code": 1001})
    async with asyncio.timeout(seconds(1)):
        assert await task is None
    assert channel.listener is None  # let go of when the relay ends


async def test_a_slow_client_holds_one_event_and_the_stream_queues_the_rest_in_order() -> None:
    channel, source = RecordingChannel(), stream()
    task = await started(relay(channel, source))
    source.deliver(event(1))
    channel.result = WriteResult.FULL
    for seq in range(2, 6):
        source.deliver(event(seq))
    assert channel.seqs() == [1]
    assert source.queued == 3  # 2 is held by the relay
    channel.writable_again()
    assert channel.seqs() == [1, 2, 3, 4, 5]
    assert source.queued == 0
    task.cancel()


async def test_past_the_streams_bound_a_slow_client_gets_what_fit_then_resync_then_upstream_lost() -> None:
    channel, source = RecordingChannel(), stream(max_queued_events=2)
    task = await started(relay(channel, source))
    channel.result = WriteResult.FULL
    for seq in range(1, 6):
        source.deliver(event(seq))
    channel.writable_again()
    async with asyncio.timeout(seconds(1)):
        assert await task == CloseCode.UPSTREAM_LOST
    assert channel.seqs() == [1, 2, 3, {"kind": "resync", "reason": "consumer_too_slow"}]


async def test_session_ended_is_written_and_then_nothing_more() -> None:
    channel, source = RecordingChannel(), stream()
    task = await started(relay(channel, source))
    source.deliver(event(1, "session.ended"))
    source.deliver(event(2))
    async with asyncio.timeout(seconds(1)):
        assert await task == CloseCode.SESSION_ENDED
    assert channel.seqs() == [1]


async def test_a_client_gone_ends_the_relay_without_a_close_code() -> None:
    channel, source = RecordingChannel(), stream()
    task = await started(relay(channel, source))
    channel.result = WriteResult.GONE
    source.deliver(event(1))
    async with asyncio.timeout(seconds(1)):
        assert await task is None


async def test_client_messages_are_dropped_and_an_oversized_one_ends_the_socket() -> None:
    channel, source = RecordingChannel(), stream()
    task = await started(relay(channel, source))
    assert channel.listener is not None
    channel.listener({"type": "websocket.receive", "text": "small"})
    await asyncio.sleep(0)
    assert not task.done()
    oversized: Message = {"type": "websocket.receive", "bytes": b"x" * 65}
    channel.listener(oversized)
    async with asyncio.timeout(seconds(1)):
        assert await task == CloseCode.MESSAGE_TOO_BIG


async def test_a_bug_while_writing_fails_the_socket_and_never_reaches_the_tunnel_reader() -> None:
    channel, source = RecordingChannel(), stream()
    task = await started(relay(channel, source))
    channel.fail_with = RuntimeError("a bug")
    source.deliver(event(1))  # the tunnel reader's call: returns normally
    with pytest.raises(RuntimeError, match="a bug"):
        async with asyncio.timeout(seconds(1)):
            await task


async def test_a_quiet_socket_beats_with_the_last_seq_and_a_busy_one_does_not() -> None:
    heartbeat_s = seconds(0.1)
    channel, source = RecordingChannel(), stream()
    task = await started(relay(channel, source, heartbeat_s=heartbeat_s), since=41)
    async with asyncio.timeout(seconds(2)):
        while not channel.written:
            await asyncio.sleep(heartbeat_s / 10)
        assert [(f["type"], f["seq"]) for f in channel.written] == [("heartbeat", 41)]
        # Events every fifth of heartbeat_s for two periods: no beat among them.
        for seq in range(42, 52):
            source.deliver(event(seq))
            await asyncio.sleep(heartbeat_s / 5)
        assert [f["type"] for f in channel.written[1:]] == ["dialog.updated"] * 10
        while channel.written[-1]["type"] != "heartbeat":
            await asyncio.sleep(heartbeat_s / 10)
    assert channel.written[-1]["seq"] == 51
    task.cancel()


async def test_the_token_expiry_ends_the_socket_while_events_flow() -> None:
    channel, source = RecordingChannel(), stream()
    expiring = Principal(agent_id=AgentId("1001"), subject="u", token_expires_at=time.time() + seconds(0.2))
    task = await started(relay(channel, source, principal=expiring))
    async with asyncio.timeout(seconds(2)):
        seq = 0
        while not task.done():
            seq += 1
            source.deliver(event(seq))
            await asyncio.sleep(seconds(0.01))
        assert await task == CloseCode.TOKEN_EXPIRED
    assert len(channel.written) > 3


async def test_a_backed_up_socket_sends_no_heartbeat_and_its_timer_keeps_its_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heartbeat_s = seconds(0.05)
    loop = asyncio.get_running_loop()
    armed: list[float] = []
    call_at = loop.call_at

    def counting_call_at(
        when: float, callback: Callable[..., object], *args: object, **kwargs: Any
    ) -> asyncio.TimerHandle:
        if getattr(callback, "__name__", "") == "_time_is_up":
            armed.append(when)
        return call_at(when, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counting_call_at)
    channel, source = RecordingChannel(), stream()
    task = await started(relay(channel, source, heartbeat_s=heartbeat_s))
    channel.result = WriteResult.FULL
    source.deliver(event(1))  # held: the client reads nothing
    await asyncio.sleep(4 * heartbeat_s)
    assert channel.written == []
    assert 3 <= len(armed) <= 6, armed  # once a period, not spinning
    channel.writable_again()
    assert channel.seqs() == [1]
    task.cancel()
