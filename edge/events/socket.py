"""The ``/api/v1/events`` endpoint: relays the agent's event stream from the connector to one socket.

After the handshake (authenticated by :mod:`edge.hygiene.auth`) the socket has four duties, and the
first to finish decides how it closes: relaying events (``session.ended`` → 4002, the stream ending →
4003), a heartbeat whenever ``heartbeat_s`` pass without any frame sent (``{"seq":<last>,"type":
"heartbeat",...}``: any frame proves the link alive, so a busy socket sends none), reading the client
(disconnect, or an oversized message → 1009), and the token's expiry (→ 4001). All four are callbacks;
the socket's task only waits for the outcome (see :class:`SocketRelay`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import structlog
from starlette.datastructures import QueryParams
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from edge.events.channel import SocketChannel, WriteResult, channel_of
from edge.events.close_codes import TOO_MANY_SOCKETS_CODE, CloseCode
from edge.events.push import IteratorPusher, PushEventStream
from edge.events.sockets import SocketCounter
from edge.hygiene.context import SCOPE_KEY, context_of
from edge.metrics import EdgeMetrics
from edge.policy import EventsPolicy
from edge.tunnel.errors import BadRequest, RateLimited
from edge.tunnel.messages import AgentEvent, Principal
from edge.upstream import EventStream, Upstream

_MAX_SEQ = 2**63 - 1


def parse_since(raw: str | None) -> int | None:
    """``?since=`` as a sequence number. Raises ``BadRequest`` for anything but a non-negative integer."""
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > _MAX_SEQ:
        raise BadRequest("invalid_since", "since must be a non-negative integer sequence number.")
    return int(raw)


class EventSocketEndpoint:
    def __init__(
        self,
        *,
        upstream: Upstream,
        sockets: SocketCounter,
        metrics: EdgeMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._upstream = upstream
        self._sockets = sockets
        self._metrics = metrics
        self._clock = clock
        self._log = structlog.get_logger("fingress.edge.events")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The endpoint as a plain ASGI app. Mounted directly (not as a starlette route), the socket is
        not held for its whole life under the router's and the route's wrapper frames; starlette's
        ``websocket_session`` would add only an exception translation that, outside a ``Starlette``
        application, re-raises."""
        websocket = WebSocket(scope, receive=receive, send=send)
        context = context_of(scope)
        principal = context.principal
        assert principal is not None
        policy = context.snapshot.policy.events
        # Not websocket.query_params: that would be cached on the socket (and a ticket with it) for hours.
        since = parse_since(QueryParams(scope["query_string"]).get("since"))
        if not self._sockets.try_acquire(principal.agent_id, cap=policy.max_sockets_per_agent):
            raise RateLimited(TOO_MANY_SOCKETS_CODE, "This agent has too many event sockets open.")
        try:
            stream = await self._upstream.open_events(principal, since=since)
            try:
                channel = channel_of(scope, websocket)  # before the handshake's extensions go
                await websocket.accept()
                _forget_handshake(scope)
                self._metrics.event_sockets.inc()
                try:
                    relay = SocketRelay(
                        channel=channel, stream=stream, principal=principal, policy=policy, clock=self._clock
                    )
                    code = await relay.run(since or 0)
                finally:
                    self._metrics.event_sockets.dec()
            finally:
                await stream.close()
        finally:
            self._sockets.release(principal.agent_id)
        if code is not None:
            self._log.info("event_socket_ending", agent_id=principal.agent_id, close_code=int(code))
            try:
                await websocket.close(code=int(code), reason=code.reason)
            except (RuntimeError, OSError):
                return  # the client left first


# What an open socket's scope is still read for: its type, the request context, and the path the access
# log line names when the socket closes (headers stay, empty, for code that looks one up).
_SCOPE_KEPT_AFTER_ACCEPT = frozenset({"type", "path", "headers", SCOPE_KEY})


def _forget_handshake(scope: Scope) -> None:
    """Drop from an accepted socket's scope what nothing reads again, for the socket's life: the headers
    (~2 KiB, the bearer token among them), the query string (a redeemed ticket), the subprotocols,
    extensions, state and addresses."""
    scope["headers"] = []
    for key in [key for key in scope if key not in _SCOPE_KEPT_AFTER_ACCEPT]:
        del scope[key]


class SocketRelay:
    """One event socket's duties once it is accepted, in the socket's own task, which waits on one
    future for the outcome: :meth:`run` returns the close code, or None if the client left (and raises
    what broke, a bug, for the problem middleware to turn into 1011). It takes events as an
    ``edge.events.push.EventConsumer``.

    Nothing else waits per socket. Events are written as the stream pushes them (:meth:`take`, called by
    the tunnel reader: it must never raise or wait), the client's messages arrive through the channel's
    listener, and one timer keeps the clock: a heartbeat once ``heartbeat_s`` have passed without any frame
    sent (``{"seq":<last>,"type":"heartbeat",...}``), the token's expiry (→ 4001). Whatever decides first
    sets the outcome: ``session.ended`` sent (→ 4002), the stream's end (→ 4003), a disconnect (None), an
    oversized message (→ 1009).

    Sending an event does not move the timer (that would be a timer operation per event): the relay only
    notes when its last frame went out, and a timer that fires on a socket that was not quiet is set
    again, ``heartbeat_s`` after that frame. A busy socket sees its timer once per ``heartbeat_s``.

    When the client reads too slowly the channel says so; the relay keeps the one event it could not
    write and the stream keeps what follows (bounded: past its bound the stream ends with ``resync``)
    until the channel is writable again.

    Why this shape: an open socket is mostly waiting, and every task, coroutine and future parked per
    socket is memory per signed-in agent; and an event goes out from the tunnel reader's own call, with
    no task switch per event.
    """

    __slots__ = (
        "_channel",
        "_clock",
        "_done",
        "_due_at",
        "_expires_at",
        "_last_sent_at",
        "_last_seq",
        "_pending",
        "_policy",
        "_source",
        "_timer",
    )

    def __init__(
        self,
        *,
        channel: SocketChannel,
        stream: EventStream,
        principal: Principal,
        policy: EventsPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` is wall-clock time (the token's expiry is one); the loop's own clock runs the rest."""
        loop = asyncio.get_running_loop()
        self._channel = channel
        self._source: PushEventStream | IteratorPusher = (
            stream if isinstance(stream, PushEventStream) else IteratorPusher(stream)
        )
        self._policy = policy
        self._clock = clock
        self._done: asyncio.Future[CloseCode | None] = loop.create_future()
        self._last_seq = 0
        # When the last frame went out, in loop time: the next heartbeat is due heartbeat_s after it.
        self._last_sent_at = loop.time()
        expires_at = principal.token_expires_at
        self._expires_at = math.inf if expires_at is None else loop.time() + max(0.0, expires_at - clock())
        self._due_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        # The one event the channel could not take yet (the client reads too slowly).
        self._pending: AgentEvent | None = None

    async def run(self, since: int) -> CloseCode | None:
        """Relay until the socket's outcome; ``since`` is the seq a heartbeat names before any event."""
        self._last_seq = since
        try:
            self._channel.listen(self._client_message)
            self._arm()
            self._source.push_to(self)
            return await self._done
        finally:
            if self._timer is not None:
                self._timer.cancel()
            self._channel.listen(None)
            if isinstance(self._source, IteratorPusher):
                self._source.stop()
            self._pending = None

    # --- the stream's side (EventConsumer) -----------------------------------------------------------

    def take(self, event: AgentEvent) -> bool:
        if self._done.done():
            return True  # the socket is ending: nothing more goes out
        try:
            result = self._channel.write_text(event.json)
            if result is WriteResult.FULL:
                self._pending = event
                self._channel.when_writable(self._writable_again)
                return False
            if result is WriteResult.GONE:
                self._finish(None)
                return True
            self._last_sent_at = asyncio.get_running_loop().time()
            if event.seq > self._last_seq:
                self._last_seq = event.seq
            if event.type == "session.ended":
                self._finish(CloseCode.SESSION_ENDED)
        except Exception as error:
            # Never into the caller (the tunnel reader, serving every agent): the socket fails instead.
            self._fail(error)
        return True

    def stream_ended(self, error: BaseException | None = None) -> None:
        if error is not None:
            self._fail(error)
        else:
            self._finish(CloseCode.UPSTREAM_LOST)

    def _writable_again(self) -> None:
        event, self._pending = self._pending, None
        if event is not None and self.take(event) and not self._done.done():
            self._source.resume()

    # --- the client's side ---------------------------------------------------------------------------

    def _client_message(self, message: Message) -> None:
        # Clients have nothing to say on this socket; anything they send is dropped, and an oversized
        # message ends the socket.
        if message["type"] == "websocket.disconnect":
            self._finish(None)
            return
        size = len(message.get("text") or "") + len(message.get("bytes") or b"")
        if size > self._policy.max_message_bytes:
            self._finish(CloseCode.MESSAGE_TOO_BIG)

    # --- the clock -----------------------------------------------------------------------------------

    def _arm(self) -> None:
        self._due_at = min(self._last_sent_at + self._policy.heartbeat_s, self._expires_at)
        self._timer = asyncio.get_running_loop().call_at(self._due_at, self._time_is_up)

    def _time_is_up(self) -> None:
        self._timer = None
        if self._done.done():
            return
        try:
            if self._expires_at <= self._due_at:
                self._finish(CloseCode.TOKEN_EXPIRED)
                return
            # The beat was due, unless a frame went out meanwhile (it proved the link alive): then the
            # timer is set again, heartbeat_s from that frame.
            if self._last_sent_at + self._policy.heartbeat_s <= self._due_at:
                if self._pending is None:
                    result = self._channel.write_text(heartbeat_text(self._last_seq, self._clock()))
                    if result is WriteResult.GONE:
                        self._finish(None)
                        return
                # Written, or the socket is backed up with frames (an event waits to go out): either
                # way it is not quiet now.
                self._last_sent_at = asyncio.get_running_loop().time()
            self._arm()
        except Exception as error:
            self._fail(error)

    # --- the outcome ---------------------------------------------------------------------------------

    def _finish(self, code: CloseCode | None) -> None:
        if not self._done.done():
            self._done.set_result(code)

    def _fail(self, error: BaseException) -> None:
        if not self._done.done():
            self._done.set_exception(error)


def heartbeat_text(seq: int, at_s: float) -> str:
    """A heartbeat frame, compact like the connector's event frames, ``seq`` the last event's:
    ``{"seq":42,"type":"heartbeat","at":"2026-11-21T10:00:00.123Z","data":{}}``."""
    at = datetime.fromtimestamp(at_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return orjson.dumps({"seq": seq, "type": "heartbeat", "at": at, "data": {}}).decode()
