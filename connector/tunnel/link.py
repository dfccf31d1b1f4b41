"""One tunnel connection, as the connector runs it: the sans-I/O :class:`~edge.tunnel.protocol.ConnectorSide`
fed and drained by the tunnel's :class:`~edge.tunnel.pump.FramePump`, and what the protocol reports turned
into calls on the :class:`~connector.tunnel.service.TunnelService`.

The connector keeps no attachment state across connections: the edge owns the event streams and
re-sends ``attach`` (with ``since``) on a new connection, so a restarted connector needs no memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from structlog.typing import FilteringBoundLogger
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from connector.tunnel.service import TunnelService
from connector.tunnel.stats import ClientStats
from edge.tunnel.errors import ApiError, UpstreamError
from edge.tunnel.messages import AgentEvent, AgentId, Principal, TunnelRequest
from edge.tunnel.protocol import (
    AttachmentOverflowed,
    AttachRequested,
    ConnectionFailed,
    ConnectorSide,
    Detached,
    DrainRequested,
    Phase,
    RequestCancelled,
    RequestReceived,
    TunnelEvent,
)
from edge.tunnel.pump import FramePump


class TunnelSink:
    """The :class:`~connector.tunnel.service.EventSink` of one attachment."""

    __slots__ = ("_closed", "_link", "agent_id", "sid")

    def __init__(self, *, link: ConnectorLink, sid: int, agent_id: AgentId) -> None:
        self._link = link
        self.sid = sid
        self.agent_id = agent_id
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def push(self, event: AgentEvent) -> None:
        if not self._closed:
            self._link.push_event(self, event)

    def end(self) -> None:
        if not self._closed:
            self._link.end_stream(self)

    def mark_closed(self) -> None:
        self._closed = True

    def __repr__(self) -> str:
        return f"TunnelSink(sid={self.sid}, agent_id={self.agent_id!r}, closed={self._closed})"


class ConnectorLink:
    """A handshaken (or handshaking) tunnel connection to one edge."""

    def __init__(
        self,
        *,
        connection: ClientConnection,
        protocol: ConnectorSide,
        service: TunnelService,
        stats: ClientStats,
        limiter: asyncio.Semaphore,
        log: FilteringBoundLogger,
    ) -> None:
        self.connection = connection
        self.protocol = protocol
        self._service = service
        self._stats = stats
        self._limiter = limiter
        self._log = log
        self._requests: dict[int, asyncio.Task[None]] = {}
        self._sinks: dict[int, TunnelSink] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._pump = FramePump(
            connection=connection, protocol=protocol, dispatch=self._dispatch, writer_name="tunnel-writer"
        )
        self.edge_draining = False

    @property
    def is_open(self) -> bool:
        return self.protocol.is_open and not self._pump.closing

    async def handshake(self, *, timeout_s: float) -> bool:
        """Send ``hello`` and wait for ``welcome``; False (and the connection closed) otherwise."""
        try:
            async with asyncio.timeout(timeout_s):
                for frame in self.protocol.data_to_send():
                    await self.connection.send(frame, text=True)
                while self.protocol.phase is Phase.HANDSHAKE:
                    self.protocol.receive_message(await self.connection.recv(decode=False))
        except (TimeoutError, ConnectionClosed):
            await self.connection.close()
            return False
        self.protocol.events_received()
        if self.protocol.is_open:
            return True
        for frame in self.protocol.data_to_send():
            try:
                await self.connection.send(frame, text=True)
            except ConnectionClosed:
                break
        await self.connection.close(1002)
        return False

    async def run(self) -> None:
        """Serve the connection until it ends; then cancel its requests and detach its sinks."""
        try:
            await self._pump.run()
        finally:
            await self._shut_down_work()
        if self.protocol.failure is not None:
            await self.connection.close(1002, self.protocol.failure.reason[:120])

    async def drain(self, *, timeout_s: float) -> None:
        """Tell the edge we take nothing new, let in-flight requests finish (bounded), then close."""
        self.protocol.send_drain()
        self._pump.wake()
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            self._log.warning("tunnel_drain_timed_out", requests=len(self._requests))
        # Let the writer put the last answers on the wire, then start the closing handshake.
        self._pump.close_soon()
        await self._pump.flushed()
        await self.connection.close(1001, "connector draining")

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake (a crash, for tests)."""
        if self.connection.transport is not None:
            self.connection.transport.abort()

    # --- called by sinks -----------------------------------------------------------------------------

    def push_event(self, sink: TunnelSink, event: AgentEvent) -> None:
        if self.protocol.send_event(sink.sid, event):
            self._stats.events_sent += 1
            self._pump.wake()
        else:
            # Over, or it just overflowed: the protocol reported why; act on it now.
            self._dispatch(self.protocol.events_received())
            self._pump.wake()

    def end_stream(self, sink: TunnelSink) -> None:
        self._forget_sink(sink.sid)
        self.protocol.send_detach(sink.sid, "ended")
        self._pump.wake()

    # --- internals -----------------------------------------------------------------------------------

    def _dispatch(self, events: list[TunnelEvent]) -> None:
        for event in events:
            match event:
                case RequestReceived(sid, request):
                    self._stats.requests += 1
                    self._idle.clear()
                    self._requests[sid] = asyncio.create_task(self._answer(sid, request))
                case RequestCancelled(sid):
                    task = self._requests.get(sid)
                    if task is not None:
                        self._stats.requests_cancelled += 1
                        task.cancel()
                case AttachRequested(sid, principal, since):
                    sink = TunnelSink(link=self, sid=sid, agent_id=principal.agent_id)
                    self._sinks[sid] = sink
                    self._spawn(self._attach(sink, principal, since))
                case Detached(sid, _, _):
                    self._forget_sink(sid)
                case AttachmentOverflowed(sid, agent_id):
                    self._stats.dropped_attachments += 1
                    self._log.warning("tunnel_attachment_overflowed", agent_id=agent_id)
                    self._forget_sink(sid)
                case DrainRequested():
                    self.edge_draining = True
                    self._log.info("tunnel_edge_draining", edge_id=self.protocol.peer_id)
                case ConnectionFailed(error, by_peer):
                    self._stats.protocol_errors += 0 if by_peer else 1
                    self._log.warning("tunnel_failed", reason=error.reason, by_peer=by_peer)
                case _:
                    pass

    async def _answer(self, sid: int, request: TunnelRequest) -> None:
        try:
            async with self._limiter:
                response = await self._service.handle(request)
        except ApiError as error:
            self._stats.requests_failed += 1
            self.protocol.send_failure(sid, error)
        except Exception:
            self._stats.requests_failed += 1
            self._log.exception("tunnel_request_failed", request_id=request.request_id, path=request.path)
            self.protocol.send_failure(sid, UpstreamError("connector_error", "the connector failed"))
        else:
            self.protocol.send_response(sid, response)
        finally:
            self._requests.pop(sid, None)
            if not self._requests:
                self._idle.set()
            self._pump.wake()

    async def _attach(self, sink: TunnelSink, principal: Principal, since: int | None) -> None:
        error: ApiError | None = None
        try:
            await self._service.attach(principal, since, sink)
        except ApiError as refused:
            error = refused
        except Exception:
            self._log.exception("tunnel_attach_failed", agent_id=principal.agent_id)
            error = UpstreamError("connector_error", "the connector failed")
        if error is not None:
            sink.mark_closed()
            self._sinks.pop(sink.sid, None)
            self.protocol.send_failure(sink.sid, error)
        elif not sink.closed:
            self._stats.attachments += 1
            self.protocol.send_attached(sink.sid)
        self._pump.wake()

    def _forget_sink(self, sid: int) -> None:
        sink = self._sinks.pop(sid, None)
        if sink is not None and not sink.closed:
            sink.mark_closed()
            self._spawn(self._detach(sink))

    async def _detach(self, sink: TunnelSink) -> None:
        try:
            await self._service.detach(sink.agent_id, sink)
        except Exception:
            self._log.exception("tunnel_detach_failed", agent_id=sink.agent_id)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _shut_down_work(self) -> None:
        for task in self._requests.values():
            task.cancel()
        for sid in list(self._sinks):
            self._forget_sink(sid)
        pending = [*self._requests.values(), *self._background]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
