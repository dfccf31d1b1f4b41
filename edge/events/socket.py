"""The ``/api/v1/events`` endpoint: relays the agent's event stream from the connector to one socket.

After the handshake (authenticated by :mod:`edge.hygiene.auth`) the socket has four duties, and the
first to finish decides how it closes: relaying events (``session.ended`` → 4002, the stream ending →
4003), a heartbeat whenever ``heartbeat_s`` pass without any frame sent (``{"seq":<last>,"type":
"heartbeat",...}``: any frame proves the link alive, so a busy socket sends none), reading the client
(disconnect, or an oversized message → 1009), and the token's expiry (→ 4001). They run in two tasks
(see :class:`_Relay`).
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
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from edge.events.close_codes import TOO_MANY_SOCKETS_CODE, CloseCode
from edge.events.sockets import SocketCounter
from edge.hygiene.context import SCOPE_KEY, context_of
from edge.metrics import EdgeMetrics
from edge.policy import EventsPolicy
from edge.tunnel.errors import ApiError, BadRequest, RateLimited
from edge.tunnel.messages import Principal
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
                await websocket.accept()
                _forget_handshake(scope)
                self._metrics.event_sockets.inc()
                try:
                    code = await _Relay(websocket, stream, principal, policy, self._clock).run(since or 0)
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


class _Relay:
    """One socket's duties in two tasks; :meth:`run` returns the close code, or None if the client left.

    A relay task forwards events (``session.ended`` → 4002, the stream ending → 4003). The socket's own
    task reads the client (a close, or an oversized message → 1009) and keeps the clock: a heartbeat once
    ``heartbeat_s`` have passed without any frame sent (``{"seq":<last>,"type":"heartbeat",...}``) and the
    token's expiry (→ 4001), as deadlines on its read rather than tasks of their own. Whichever finishes
    first decides how the socket closes: the relay ends the read by expiring its deadline now, the read
    ends the relay by cancelling it.

    Sending an event does not move the read's deadline (that would be a timer operation per event): the
    relay only notes when its last frame went out, and a deadline that expires on a socket that was not
    quiet is set again, ``heartbeat_s`` after that frame. A busy socket wakes its read once per
    ``heartbeat_s`` and sends nothing more.

    Why this shape: an open socket is mostly waiting, and every task parked per socket is memory per
    signed-in agent; and the relay, the one hot path, runs in a task of its own so that resuming it for
    each event does not climb back through the whole middleware stack the socket's own task sits under.
    """

    __slots__ = (
        "_clock",
        "_last_sent_at",
        "_last_seq",
        "_policy",
        "_principal",
        "_read_deadline",
        "_send_lock",
        "_stream",
        "_websocket",
    )

    def __init__(
        self,
        websocket: WebSocket,
        stream: EventStream,
        principal: Principal,
        policy: EventsPolicy,
        clock: Callable[[], float],
    ) -> None:
        self._websocket = websocket
        self._stream = stream
        self._principal = principal
        self._policy = policy
        self._clock = clock
        self._send_lock = asyncio.Lock()
        self._last_seq = 0
        # When the last frame went out, in loop time: the next heartbeat is due heartbeat_s after it.
        self._last_sent_at = 0.0
        # The deadline the client read is waiting under, while it waits (the relay expires it to finish).
        self._read_deadline: asyncio.Timeout | None = None

    async def run(self, since: int) -> CloseCode | None:
        self._last_seq = since
        relay = asyncio.create_task(self._relay_events())
        try:
            # The read loop is in this frame, not a helper's: each coroutine an open socket waits under
            # is memory per signed-in agent.
            loop = asyncio.get_running_loop()
            expires_at = self._principal.token_expires_at
            expiry = math.inf
            if expires_at is not None:
                expiry = loop.time() + max(0.0, expires_at - self._clock())
            self._last_sent_at = loop.time()  # no frame yet: the first beat is due heartbeat_s from here
            while not relay.done():
                beat_due = self._last_sent_at + self._policy.heartbeat_s
                deadline = asyncio.timeout_at(min(beat_due, expiry))
                try:
                    async with deadline:
                        self._read_deadline = deadline
                        # Clients have nothing to say on this socket; anything they send is read (to notice
                        # a close) and dropped, and an oversized message ends the socket.
                        message = await self._websocket.receive()
                except TimeoutError:
                    if not deadline.expired():
                        raise
                    if relay.done():
                        break
                    if expiry <= beat_due:
                        return CloseCode.TOKEN_EXPIRED
                    # The beat was due, unless a frame went out meanwhile (it proved the link alive):
                    # then the loop waits again, heartbeat_s from that frame.
                    if (
                        beat_due >= self._last_sent_at + self._policy.heartbeat_s
                        and not await self._send_heartbeat()
                    ):
                        return None
                    continue
                finally:
                    self._read_deadline = None
                if message["type"] == "websocket.disconnect":
                    return None
                size = len(message.get("text") or "") + len(message.get("bytes") or b"")
                if size > self._policy.max_message_bytes:
                    return CloseCode.MESSAGE_TOO_BIG
                del message  # not kept while waiting for the next one
            return relay.result()
        finally:
            relay.cancel()
            await asyncio.gather(relay, return_exceptions=True)

    async def _send(self, text: str) -> None:
        # A str: the ASGI server encodes it (uvicorn's "text" must be a str; no bytes shortcut here).
        async with self._send_lock:
            await self._websocket.send_text(text)
            self._last_sent_at = asyncio.get_running_loop().time()

    async def _relay_events(self) -> CloseCode | None:
        try:
            async for event in self._stream:
                await self._send(event.json)
                self._last_seq = max(self._last_seq, event.seq)
                if event.type == "session.ended":
                    return CloseCode.SESSION_ENDED
                # Let go before waiting for the next one: the frame would otherwise keep the last event
                # (the first is the agent's whole snapshot) as long as the socket stays quiet.
                del event
        except ApiError:
            return CloseCode.UPSTREAM_LOST
        except (WebSocketDisconnect, OSError, RuntimeError):
            return None
        finally:
            # However the relay ends (an outcome, or a bug), the read must not outlive it.
            if self._read_deadline is not None:
                self._read_deadline.reschedule(asyncio.get_running_loop().time())
        return CloseCode.UPSTREAM_LOST

    async def _send_heartbeat(self) -> bool:
        """Send one heartbeat; False when the client is gone."""
        try:
            await self._send(heartbeat_text(self._last_seq, self._clock()))
        except (WebSocketDisconnect, OSError, RuntimeError):
            return False
        return True


def heartbeat_text(seq: int, at_s: float) -> str:
    """A heartbeat frame, compact like the connector's event frames, ``seq`` the last event's:
    ``{"seq":42,"type":"heartbeat","at":"2026-11-21T10:00:00.123Z","data":{}}``."""
    at = datetime.fromtimestamp(at_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return orjson.dumps({"seq": seq, "type": "heartbeat", "at": at, "data": {}}).decode()
