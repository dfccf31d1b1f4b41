"""One connector's tunnel connection, as the edge runs it: the sans-I/O
:class:`~edge.tunnel.protocol.EdgeSide` fed and drained by the tunnel's
:class:`~edge.tunnel.pump.FramePump`, and what the protocol reports dispatched to waiting requests and
event streams."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from structlog.typing import FilteringBoundLogger
from websockets.asyncio.server import ServerConnection

from edge.relay.stats import RelayStats
from edge.relay.stream import RelayEventStream
from edge.tunnel.errors import Unavailable, UpstreamTimeout
from edge.tunnel.messages import TunnelRequest, TunnelResponse
from edge.tunnel.protocol import (
    AttachConfirmed,
    AttachRefused,
    ConnectionFailed,
    Detached,
    DrainRequested,
    EdgeSide,
    EventReceived,
    RequestFailed,
    ResponseReceived,
    TunnelEvent,
)
from edge.tunnel.pump import FramePump

# Close codes: 1002 protocol error (RFC 6455); 1001 going away is websockets' default on shutdown.
_CLOSE_PROTOCOL_ERROR = 1002


class EdgeLink:
    """A live, handshaken tunnel connection from one connector."""

    def __init__(
        self,
        *,
        connection: ServerConnection,
        protocol: EdgeSide,
        identity: str,
        stats: RelayStats,
        on_drain_requested: Callable[[EdgeLink], None],
        log: FilteringBoundLogger,
    ) -> None:
        self.connection = connection
        self.protocol = protocol
        self.identity = identity
        """The allowed certificate name the connector presented."""
        self.streams: dict[int, RelayEventStream] = {}
        self.connector_draining = False
        """This connection was up when its connector started draining (on it or on another of its
        connections): the connector is going away as a whole, so no event stream moves here. The relay
        sets it, and clears it once none of the connector's connections is draining any more."""
        self._stats = stats
        self._on_drain_requested = on_drain_requested
        self._log = log
        self._in_flight: dict[int, asyncio.Future[TunnelResponse]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._pump = FramePump(
            connection=connection,
            protocol=protocol,
            dispatch=self._dispatch,
            writer_name=f"tunnel-writer-{protocol.peer_id or identity}",
        )

    @property
    def connector_id(self) -> str:
        return self.protocol.peer_id or self.identity

    @property
    def usable(self) -> bool:
        """Open and not draining: new requests and attachments may go here."""
        return self.protocol.is_open and not self.protocol.peer_draining and not self._pump.closing

    @property
    def takes_streams(self) -> bool:
        """Usable, and not a connection of a connector that has started draining: an event stream
        leaving another connection may move here."""
        return self.usable and not self.connector_draining

    @property
    def load(self) -> int:
        return len(self._in_flight)

    async def request(self, request: TunnelRequest, *, timeout_s: float) -> TunnelResponse:
        """Send one request and wait for its answer. Raises the connector's ``ApiError``,
        ``UpstreamTimeout`` (the edge sends ``cancel``) or ``Unavailable("connector_lost")``."""
        sid = self.protocol.send_request(request)
        future: asyncio.Future[TunnelResponse] = asyncio.get_running_loop().create_future()
        self._in_flight[sid] = future
        self._idle.clear()
        self._pump.wake()
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            self._stats.request_timeouts += 1
            raise UpstreamTimeout("upstream_timeout", "the connector did not answer in time") from None
        finally:
            # Timed out, cancelled by the caller, or answered: a late answer is dropped by the protocol.
            self.protocol.send_cancel(sid)
            self._pump.wake()
            del self._in_flight[sid]
            if not self._in_flight:
                self._idle.set()

    def attach(self, stream: RelayEventStream) -> None:
        """Ask the connector for ``stream``'s agent events, resuming after ``stream.resume_seq``."""
        sid = self.protocol.send_attach(stream.principal, stream.resume_seq)
        stream.link, stream.sid = self, sid
        self.streams[sid] = stream
        self._pump.wake()

    def detach(self, stream: RelayEventStream) -> None:
        if stream.link is self and stream.sid is not None:
            self.streams.pop(stream.sid, None)
            self.protocol.send_detach(stream.sid)
            self._pump.wake()
        stream.link, stream.sid = None, None

    def send_drain(self) -> None:
        self.protocol.send_drain()
        self._pump.wake()

    async def wait_idle(self) -> None:
        """Return once no request is in flight on this connection."""
        await self._idle.wait()

    async def run(self) -> list[RelayEventStream]:
        """Serve the connection until it ends; returns the streams that were still attached to it
        (their owner re-attaches them elsewhere). In-flight requests fail with ``connector_lost``."""
        try:
            await self._pump.run()
        finally:
            self._stats.late_frames += self.protocol.late_frames
            self._fail_in_flight()
        if self.protocol.failure is not None:
            await self.connection.close(_CLOSE_PROTOCOL_ERROR, self.protocol.failure.reason[:120])
        leftover = list(self.streams.values())
        self.streams.clear()
        return leftover

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake (tests, fatal errors)."""
        transport = self.connection.transport
        if transport is not None:
            transport.abort()

    def _fail_in_flight(self) -> None:
        for future in self._in_flight.values():
            if not future.done():
                self._stats.requests_lost += 1
                future.set_exception(Unavailable("connector_lost", "the connector connection was lost"))

    def _dispatch(self, events: list[TunnelEvent]) -> None:
        for event in events:
            match event:
                case ResponseReceived(sid, response):
                    future = self._in_flight.get(sid)
                    if future is not None and not future.done():
                        future.set_result(response)
                case RequestFailed(sid, error):
                    future = self._in_flight.get(sid)
                    if future is not None and not future.done():
                        future.set_exception(error)
                case EventReceived(sid, agent_event):
                    stream = self.streams.get(sid)
                    if stream is not None:
                        self._stats.events_relayed += 1
                        stream.deliver(agent_event)
                case AttachConfirmed(sid):
                    stream = self.streams.get(sid)
                    if stream is None:
                        pass
                    elif not stream.attached.done():
                        stream.attached.set_result(None)
                    elif stream.awaiting_recovery:
                        stream.awaiting_recovery = False
                        stream.alert("connector_recovered")
                case AttachRefused(sid, error):
                    stream = self.streams.pop(sid, None)
                    if stream is not None:
                        stream.link, stream.sid = None, None
                        if not stream.attached.done():
                            stream.attached.set_exception(error)
                        else:
                            stream.end_with_resync(error.code)
                case Detached(sid, reason, _):
                    stream = self.streams.pop(sid, None)
                    if stream is not None:
                        stream.link, stream.sid = None, None
                        if not stream.attached.done():
                            # Ended before it was confirmed (e.g. a replay overflowed the connector's
                            # bound): the app still gets what arrived, then the end or resync marker.
                            stream.attached.set_result(None)
                        if reason == "resync":
                            self._stats.dropped_attachments += 1
                            stream.end_with_resync("connector_queue_full")
                        else:
                            stream.end()
                case DrainRequested():
                    self._log.info("tunnel_drain_requested", connector_id=self.connector_id)
                    self._on_drain_requested(self)
                case ConnectionFailed(error, by_peer):
                    self._stats.protocol_errors += 0 if by_peer else 1
                    self._log.warning(
                        "tunnel_failed", connector_id=self.connector_id, reason=error.reason, by_peer=by_peer
                    )
                case _:
                    pass
