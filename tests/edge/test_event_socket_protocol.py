"""The trimmed WebSocket protocol the public listener runs (edge.events.protocol) and the event socket's
one-task shape: its primitives on their own, and over real TLS sockets what an open socket keeps (no
handshake headers, no bearer token, one task waiting on one future), flow control when the client stops
reading, heartbeats on schedule while the client talks, and a closed socket giving back its stream and
its cap slot; each with a stream that pushes (the relay's) and one that can only be iterated."""

from __future__ import annotations

import asyncio
import gc
import json
import ssl
from collections.abc import Callable
from typing import Any

import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request

from edge.events.close_codes import CloseCode
from edge.events.protocol import (
    TLS_WRITE_PIECE_BYTES,
    EventSocketProtocol,
    Inbox,
    PiecewiseTlsWrites,
    WritableFlag,
)
from edge.hygiene.context import SCOPE_KEY
from edge.tunnel.messages import AgentEvent
from tests.edge.conftest import Edge, EdgeFactory
from tests.edge.fakes import STREAM_KINDS, FakeUpstream, PushingEventStream
from tests.edge.test_events import close_code, frame, next_stream
from tests.support.timing import seconds


@pytest.fixture(params=sorted(STREAM_KINDS))
def make_upstream(request: pytest.FixtureRequest) -> Callable[[], FakeUpstream]:
    return lambda: FakeUpstream(make_stream=STREAM_KINDS[request.param])


async def test_inbox_is_fifo_and_get_waits_for_a_put() -> None:
    inbox: Inbox[int] = Inbox()
    assert inbox.empty()
    getter = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not getter.done()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    async with asyncio.timeout(seconds(1)):
        assert await getter == 1
        assert inbox.qsize() == 1
        assert await inbox.get() == 2
    assert inbox.empty()


async def test_inbox_get_cancelled_after_its_wakeup_leaves_the_item_for_the_next_getter() -> None:
    inbox: Inbox[str] = Inbox()
    first = asyncio.ensure_future(inbox.get())
    second = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("only")  # wakes the first getter...
    first.cancel()  # ...which is cancelled before it runs
    async with asyncio.timeout(seconds(1)):
        assert await second == "only"
    assert first.cancelled()
    assert inbox.empty()


async def test_writable_flag_blocks_while_cleared_and_releases_every_waiter_on_set() -> None:
    flag = WritableFlag()
    async with asyncio.timeout(seconds(1)):
        assert await flag.wait()
    flag.clear()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(3)]
    cancelled = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    assert not any(waiter.done() for waiter in waiters)
    cancelled.cancel()
    await asyncio.sleep(0)
    flag.set()
    async with asyncio.timeout(seconds(1)):
        assert await asyncio.gather(*waiters) == [True, True, True]
    assert flag.is_set()


class _RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False


def test_piecewise_writes_hand_over_small_pieces_in_order_and_pass_the_rest_through() -> None:
    inner = _RecordingTransport()
    transport = PiecewiseTlsWrites(inner, piece_bytes=4)
    transport.write(b"abcd")
    assert inner.writes == [b"abcd"]  # a piece that fits goes as it is
    transport.write(b"0123456789")
    assert inner.writes[1:] == [b"0123", b"4567", b"89"]
    assert transport.is_closing() is False  # everything but write is the transport's own


def _coroutine_name(task: asyncio.Task[Any]) -> str:
    return str(getattr(task.get_coro(), "__qualname__", ""))


def _open_protocols() -> list[EventSocketProtocol]:
    # type(), not isinstance(): gc.get_objects() holds weak proxies, and isinstance() on a dead one raises.
    return [
        item
        for item in gc.get_objects()
        if type(item) is EventSocketProtocol and item.handshake_complete and not item.disconnected
    ]


async def test_an_open_socket_keeps_neither_the_handshake_nor_the_token(
    edge: Edge, client_ssl_context: ssl.SSLContext
) -> None:
    token = edge.idp.mint("1001")
    async with (
        asyncio.timeout(seconds(10)),
        connect(
            edge.ws_url + "?since=3",
            ssl=client_ssl_context,
            additional_headers={"authorization": f"Bearer {token}", "x-request-id": "handshake-1234"},
            proxy=None,
        ) as ws,
    ):
        stream = await next_stream(edge)
        stream.push(4, "snapshot")
        assert (await frame(ws))["seq"] == 4
        [protocol] = _open_protocols()
        assert isinstance(protocol.queue, Inbox)
        assert isinstance(protocol.writable, WritableFlag)
        assert not hasattr(protocol, "request")
        assert not hasattr(protocol, "response")
        # uvicorn's attributes all live in slots: no per-socket dict (a new uvicorn attribute shows here).
        assert vars(protocol) == {}
        assert protocol.scope["headers"] == []
        # Nor the rest of the handshake: the query string (a ticket, once redeemed), addresses, state.
        assert set(protocol.scope) == {"type", "path", "headers", SCOPE_KEY}
        # Only what is still reachable counts: garbage from the handshake awaiting the cycle collector
        # (when it last ran depends on the tests before this one) is kept by nothing.
        gc.collect()
        # The server's parser keeps its Request as a local: emptied. The client's own is not the edge's.
        holding = [
            item
            for item in gc.get_objects()
            if type(item) is Request and item is not ws.request and token in str(item.headers)
        ]
        assert holding == []
        # Nor does anything up the socket's stack (a middleware's local, say) keep the scope's header list.
        raw = token.encode()
        header_lists = [
            item
            for item in gc.get_objects()
            if type(item) is list
            and any(
                type(entry) is tuple and entry[:1] == (b"authorization",) and raw in entry[1]
                for entry in item
            )
        ]
        assert header_lists == []


async def test_an_open_socket_costs_the_edge_one_task_or_two_for_a_stream_that_cannot_push(
    edge: Edge, client_ssl_context: ssl.SSLContext
) -> None:
    async def open_socket(agent: str) -> tuple[ClientConnection, object]:
        # No client keepalive: its task would be counted with the edge's.
        ws = await connect(
            edge.ws_url,
            ssl=client_ssl_context,
            additional_headers=edge.auth(agent),
            proxy=None,
            ping_interval=None,
        )
        stream = await next_stream(edge)
        stream.push(1, "snapshot")
        await frame(ws)
        return ws, stream

    async with asyncio.timeout(seconds(10)):
        warm, stream = await open_socket("1000")
        before = asyncio.all_tasks()
        sockets = [(await open_socket(str(1001 + n)))[0] for n in range(3)]
        added = asyncio.all_tasks() - before
        per_socket = 1 if isinstance(stream, PushingEventStream) else 2
        assert len(added) == per_socket * len(sockets), sorted(map(_coroutine_name, added))
        # The socket's own task waits on one future: nothing of the event socket's under the relay.
        for task in added:
            if _coroutine_name(task) == "WebSocketsSansIOProtocol.run_asgi":
                assert _awaited_chain(task)[-1] == "SocketRelay.run"
        for ws in [warm, *sockets]:
            await ws.close()


async def test_heartbeats_keep_their_schedule_while_the_client_keeps_talking(
    make_edge: EdgeFactory, client_ssl_context: ssl.SSLContext
) -> None:
    edge: Edge = await make_edge(events={"heartbeat_s": 0.2})
    async with (
        asyncio.timeout(seconds(10)),
        connect(edge.ws_url, ssl=client_ssl_context, additional_headers=edge.auth(), proxy=None) as ws,
    ):
        await next_stream(edge)

        async def chatter() -> None:
            while True:  # more often than heartbeat_s: each message must not push the next beat back
                await ws.send("ignored")
                await asyncio.sleep(0.02)

        talking = asyncio.create_task(chatter())
        try:
            beats = [await frame(ws) for _ in range(3)]
        finally:
            talking.cancel()
        assert [beat["type"] for beat in beats] == ["heartbeat"] * 3


async def test_a_client_that_stops_reading_pauses_the_edge_and_then_gets_everything_in_order(
    edge: Edge, client_ssl_context: ssl.SSLContext
) -> None:
    events = 1500
    async with (
        asyncio.timeout(seconds(20)),
        connect(
            edge.ws_url, ssl=client_ssl_context, additional_headers=edge.auth(), proxy=None, max_queue=4
        ) as ws,
    ):
        stream = await next_stream(edge)
        [protocol] = _open_protocols()
        # Frames far above the piece size: split for the TLS layer, whole for the client.
        assert isinstance(protocol.transport, PiecewiseTlsWrites)
        padding = "x" * (8 * TLS_WRITE_PIECE_BYTES)
        for seq in range(1, events + 1):
            stream.push(seq, "dialog.updated", {"padding": padding})
        while protocol.writable.is_set():  # the client reads nothing yet: the edge's writes back up
            await asyncio.sleep(0.01)
        seqs = [json.loads(await ws.recv())["seq"] for _ in range(events)]
        assert seqs == list(range(1, events + 1))
        assert protocol.writable.is_set()


async def test_closing_a_socket_gives_back_its_stream_and_its_cap_slot(
    make_edge: EdgeFactory, client_ssl_context: ssl.SSLContext
) -> None:
    edge: Edge = await make_edge(events={"max_sockets_per_agent": 1})
    async with asyncio.timeout(seconds(10)):
        async with connect(edge.ws_url, ssl=client_ssl_context, additional_headers=edge.auth(), proxy=None):
            first = await next_stream(edge)
        await first.closed.wait()
        async with connect(
            edge.ws_url, ssl=client_ssl_context, additional_headers=edge.auth(), proxy=None
        ) as ws:
            second = await next_stream(edge)
            second.push(1, "session.ended", {"reason": "forced_logout"})
            assert (await frame(ws))["type"] == "session.ended"
            assert await close_code(ws) == CloseCode.SESSION_ENDED


async def test_the_token_expiry_close_fires_while_events_flow(
    edge: Edge, client_ssl_context: ssl.SSLContext
) -> None:
    async with (
        asyncio.timeout(seconds(10)),
        connect(
            edge.ws_url, ssl=client_ssl_context, additional_headers=edge.auth(lifetime_s=2), proxy=None
        ) as ws,
    ):
        stream = await next_stream(edge)

        async def publish() -> None:
            seq = 0
            while True:
                seq += 1
                stream.push(seq, "agent.updated")
                await asyncio.sleep(0.05)

        publishing = asyncio.create_task(publish())
        received: list[dict[str, Any]] = []

        async def read_until_closed() -> None:
            while True:
                received.append(await frame(ws))

        try:
            with pytest.raises(ConnectionClosed):
                await read_until_closed()
        finally:
            publishing.cancel()
        assert ws.close_code == CloseCode.TOKEN_EXPIRED
        assert len(received) > 5


def _awaited_chain(task: asyncio.Task[Any]) -> list[str]:
    """The qualified names of the coroutines ``task`` is suspended under, outermost first."""
    names: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None and hasattr(awaited, "cr_code"):
        names.append(awaited.cr_code.co_qualname)
        awaited = awaited.cr_await
    return names


async def test_an_open_socket_is_held_only_under_the_middlewares_that_still_have_work_to_do(
    edge: Edge, client_ssl_context: ssl.SSLContext
) -> None:
    # Every frame an open socket waits under is memory per signed-in agent for hours: pass-through
    # middlewares return their callee's awaitable, and the endpoint is not mounted under starlette's
    # router; the checks that only admit or refuse run under one frame between them. Those that act
    # after the handshake stay: the access log (its line when the socket closes) and the problem
    # translation (an error into a close code).
    async with (
        asyncio.timeout(seconds(10)),
        connect(
            edge.ws_url,
            ssl=client_ssl_context,
            additional_headers=edge.auth(),
            proxy=None,
            ping_interval=None,
        ) as ws,
    ):
        (await next_stream(edge)).push(1, "snapshot")
        await frame(ws)
        chains = [_awaited_chain(task) for task in asyncio.all_tasks()]
        [chain] = [names for names in chains if "EventSocketEndpoint.__call__" in names]
        held = [name.split(".")[0] for name in chain]
        for passing in (
            "ContextMiddleware",
            "SecurityHeadersMiddleware",
            "CorsMiddleware",
            "SizeLimitMiddleware",
            "IpRateLimit",
            "AllowList",
            "Authentication",
            "AgentRateLimit",
            "_EventSocketOrRouter",
            "Router",
            "WebSocketRoute",
            "websocket_session",
            "wrap_app_handling_exceptions",
        ):
            assert passing not in held, chain
        assert "AccessLogMiddleware" in held, chain
        assert "ProblemMiddleware" in held, chain
        assert held.count("AdmissionMiddleware") == 1, chain


async def test_a_quiet_socket_keeps_no_copy_of_the_last_event_it_relayed(
    edge: Edge, client_ssl_context: ssl.SSLContext
) -> None:
    # The first event of a socket is the agent's whole snapshot; a socket that then stays quiet for
    # minutes must not hold it.
    marker = "snapshot-marker-7f3a"
    async with (
        asyncio.timeout(seconds(10)),
        connect(edge.ws_url, ssl=client_ssl_context, additional_headers=edge.auth(), proxy=None) as ws,
    ):
        stream = await next_stream(edge)
        stream.push(1, "snapshot", {"marker": marker, "padding": "x" * 3000})
        assert (await frame(ws))["data"]["marker"] == marker
        # Once its send returned, the relay lets the event go before it waits for the next.

        def kept() -> list[AgentEvent]:
            gc.collect()
            return [item for item in gc.get_objects() if type(item) is AgentEvent and marker in item.json]

        while kept():
            await asyncio.sleep(0.01)


async def test_an_upgraded_connection_leaves_no_http_protocol_for_the_cycle_collector(
    edge: Edge, client_ssl_context: ssl.SSLContext
) -> None:
    # Each event socket starts as an HTTP connection; once upgraded, its HTTP protocol must be freed by
    # reference counting, not left in a cycle with its parser until a full collection (rare at the edge:
    # fingress.gc_tuning), holding heap per socket opened since.
    gc.collect()
    before = {id(item) for item in gc.get_objects() if isinstance(item, HttpToolsProtocol)}
    gc.disable()
    try:
        async with asyncio.timeout(seconds(10)):
            sockets = []
            for agent in ("1001", "1002", "1003"):
                ws = await connect(
                    edge.ws_url, ssl=client_ssl_context, additional_headers=edge.auth(agent), proxy=None
                )
                sockets.append(ws)
                (await next_stream(edge)).push(1, "snapshot")
                await frame(ws)
            left = [
                item
                for item in gc.get_objects()
                if isinstance(item, HttpToolsProtocol) and id(item) not in before
            ]
            assert left == []
            for ws in sockets:
                await ws.close()
    finally:
        gc.enable()
