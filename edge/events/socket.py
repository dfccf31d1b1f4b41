"""The ``/api/v1/events`` endpoint: relays the agent's event stream from the connector to one socket.

After the handshake (authenticated by :mod:`edge.hygiene.auth`) the socket runs four concurrent
duties, and the first to finish decides how it closes: relaying events (``session.ended`` → 4002, the
stream ending → 4003), heartbeats every ``heartbeat_s`` (``{"seq": <last>, "type": "heartbeat"}``),
reading the client (disconnect, or an oversized message → 1009), and the token's expiry (→ 4001).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect

from edge.events.close_codes import TOO_MANY_SOCKETS_CODE, CloseCode
from edge.events.sockets import SocketCounter
from edge.hygiene.context import context_of
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

    async def handle(self, websocket: WebSocket) -> None:
        context = context_of(websocket.scope)
        principal = context.principal
        assert principal is not None
        policy = context.snapshot.policy.events
        since = parse_since(websocket.query_params.get("since"))
        if not self._sockets.try_acquire(principal.agent_id, cap=policy.max_sockets_per_agent):
            raise RateLimited(TOO_MANY_SOCKETS_CODE, "This agent has too many event sockets open.")
        try:
            stream = await self._upstream.open_events(principal, since=since)
            try:
                await websocket.accept()
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


class _Relay:
    """One socket's concurrent duties; :meth:`run` returns the close code, or None if the client left."""

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

    async def run(self, since: int) -> CloseCode | None:
        self._last_seq = since
        duties: list[Callable[[], Coroutine[Any, Any, CloseCode | None]]] = [
            self._relay_events,
            self._send_heartbeats,
            self._read_client,
            self._await_expiry,
        ]
        tasks: list[asyncio.Task[CloseCode | None]] = [asyncio.create_task(duty()) for duty in duties]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return next(iter(done)).result()

    async def _send(self, text: str) -> None:
        async with self._send_lock:
            await self._websocket.send_text(text)

    async def _relay_events(self) -> CloseCode | None:
        try:
            async for event in self._stream:
                await self._send(event.json)
                self._last_seq = max(self._last_seq, event.seq)
                if event.type == "session.ended":
                    return CloseCode.SESSION_ENDED
        except ApiError:
            return CloseCode.UPSTREAM_LOST
        except (WebSocketDisconnect, OSError, RuntimeError):
            return None
        return CloseCode.UPSTREAM_LOST

    async def _send_heartbeats(self) -> CloseCode | None:
        try:
            while True:
                await asyncio.sleep(self._policy.heartbeat_s)
                at = datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="milliseconds")
                frame = {
                    "seq": self._last_seq,
                    "type": "heartbeat",
                    "at": at.replace("+00:00", "Z"),
                    "data": {},
                }
                await self._send(json.dumps(frame))
        except (WebSocketDisconnect, OSError, RuntimeError):
            return None

    async def _read_client(self) -> CloseCode | None:
        # Clients have nothing to say on this socket; anything they send is read (to notice a close)
        # and dropped, and an oversized message ends the socket.
        while True:
            message = await self._websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            size = len(message.get("text") or "") + len(message.get("bytes") or b"")
            if size > self._policy.max_message_bytes:
                return CloseCode.MESSAGE_TOO_BIG

    async def _await_expiry(self) -> CloseCode | None:
        expires_at = self._principal.token_expires_at
        if expires_at is None:
            await asyncio.Event().wait()  # never
        else:
            await asyncio.sleep(max(0.0, expires_at - self._clock()))
        return CloseCode.TOKEN_EXPIRED
