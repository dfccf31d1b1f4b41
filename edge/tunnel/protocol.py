"""The two ends of one tunnel connection as sans-I/O state machines (see PROTOCOL.md).

Each WebSocket message from the peer goes in through :meth:`receive_message`; what it meant comes out of
:meth:`events_received` as past-tense facts; messages to write come out of :meth:`data_to_send`, as the
UTF-8 bytes of text messages (send each as a text frame: websockets' ``send(data, text=True)``).
Nothing here reads a clock, sleeps or touches a socket, so every rule is testable without an event loop.

A peer that breaks the protocol fails the connection: an ``error`` frame is queued for it, the side stops
reading, and a :class:`ConnectionFailed` event tells the I/O layer to flush and close. Frames for streams
that are already over (a response after a cancel, an event after a detach) are late, not wrong: they are
counted in ``late_frames`` and dropped.
"""

from __future__ import annotations

import abc
import enum
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edge.tunnel import frames as f
from edge.tunnel.errors import (
    ApiError,
    PayloadTooLarge,
    ProtocolError,
    Unauthorized,
    Unavailable,
    UpstreamError,
)
from edge.tunnel.messages import AgentEvent, AgentId, Principal, TunnelRequest, TunnelResponse

DEFAULT_MAX_PENDING_EVENTS = 512
AGENT_ROUTE_PREFIX = "/api/"
"""Requests under this path act for an agent and must carry the edge's verified principal."""


class Phase(enum.Enum):
    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSED = "closed"


# --- events (what happened) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandshakeCompleted:
    version: int
    peer_id: str
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RequestReceived:
    sid: int
    request: TunnelRequest


@dataclass(frozen=True, slots=True)
class RequestCancelled:
    sid: int


@dataclass(frozen=True, slots=True)
class AttachRequested:
    sid: int
    principal: Principal
    since: int | None


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    sid: int
    response: TunnelResponse


@dataclass(frozen=True, slots=True)
class RequestFailed:
    sid: int
    error: ApiError


@dataclass(frozen=True, slots=True)
class AttachConfirmed:
    sid: int


@dataclass(frozen=True, slots=True)
class AttachRefused:
    sid: int
    error: ApiError


@dataclass(frozen=True, slots=True)
class EventReceived:
    sid: int
    event: AgentEvent


@dataclass(frozen=True, slots=True)
class Detached:
    """The peer ended attachment ``sid`` (see :class:`edge.tunnel.frames.Detach` for reasons)."""

    sid: int
    reason: str
    last_seq: int | None


@dataclass(frozen=True, slots=True)
class AttachmentOverflowed:
    """Connector side: attachment ``sid`` had too many unsent events and was dropped with ``resync``."""

    sid: int
    agent_id: AgentId


@dataclass(frozen=True, slots=True)
class DrainRequested:
    pass


@dataclass(frozen=True, slots=True)
class PongReceived:
    nonce: str


@dataclass(frozen=True, slots=True)
class ConnectionFailed:
    """The connection is unusable: flush :meth:`data_to_send` and close. ``by_peer``: the peer said so."""

    error: ProtocolError
    by_peer: bool


TunnelEvent = (
    HandshakeCompleted
    | RequestReceived
    | RequestCancelled
    | AttachRequested
    | ResponseReceived
    | RequestFailed
    | AttachConfirmed
    | AttachRefused
    | EventReceived
    | Detached
    | AttachmentOverflowed
    | DrainRequested
    | PongReceived
    | ConnectionFailed
)


# --- the shared machinery ----------------------------------------------------------------------------


class TunnelSide(abc.ABC):
    def __init__(self, *, versions: Sequence[int], max_frame_bytes: int) -> None:
        self.versions = tuple(versions)
        self.max_frame_bytes = max_frame_bytes
        self.phase = Phase.HANDSHAKE
        self.version: int | None = None
        self.peer_id: str | None = None
        self.capabilities: tuple[str, ...] = ()
        self.failure: ProtocolError | None = None
        self.draining = False
        """We sent ``drain``: we take nothing new."""
        self.peer_draining = False
        """The peer sent ``drain``: give it nothing new."""
        self.late_frames = 0
        # (attachment sid or 0, frame): the tag lets flow control count what is still unsent.
        self._outgoing: deque[tuple[int, bytes]] = deque()
        self._events: list[TunnelEvent] = []

    @property
    def is_open(self) -> bool:
        return self.phase is Phase.OPEN

    def receive_message(self, data: str | bytes) -> None:
        """Feed one WebSocket message from the peer. Never raises."""
        if self.phase is Phase.CLOSED:
            return
        try:
            frame = f.decode_frame(data, max_frame_bytes=self.max_frame_bytes)
            if not self._handle_common(frame):
                self._handle(frame)
        except ProtocolError as error:
            self._fail(error)

    def events_received(self) -> list[TunnelEvent]:
        """What the messages fed so far meant, oldest first; each event is returned once."""
        events, self._events = self._events, []
        return events

    def data_to_send(self, max_frames: int | None = None) -> list[bytes]:
        """Text messages to write (UTF-8 bytes), oldest first; each is returned once. With the ``batch``
        capability, consecutive event frames leave as one ``batch`` message (counted once against
        ``max_frames``)."""
        limit = len(self._outgoing) if max_frames is None else max_frames
        batching = f.BATCH_CAPABILITY in self.capabilities
        out: list[bytes] = []
        while self._outgoing and len(out) < limit:
            tag, message = self._outgoing.popleft()
            if tag:
                self._sent_event(tag)
                if batching:
                    message = self._coalesce_events(message)
            out.append(message)
        return out

    def _coalesce_events(self, first: bytes) -> bytes:
        messages = [first]
        size = len(f.encode_batch(messages))
        while (
            self._outgoing
            and self._outgoing[0][0]
            and len(messages) < f.MAX_BATCH_EVENTS
            and size + 1 + len(self._outgoing[0][1]) <= self.max_frame_bytes
        ):
            tag, message = self._outgoing.popleft()
            self._sent_event(tag)
            messages.append(message)
            size += 1 + len(message)
        return first if len(messages) == 1 else f.encode_batch(messages)

    def send_ping(self, nonce: str) -> None:
        self._require_open()
        self._queue(f.Ping(nonce))

    def send_drain(self) -> None:
        """Tell the peer we take nothing new; idempotent."""
        if self.draining or self.phase is Phase.CLOSED:
            return
        self.draining = True
        if self.phase is Phase.OPEN:
            self._queue(f.Drain())

    def connection_lost(self) -> None:
        """The I/O layer lost the connection; nothing more will be sent or received."""
        self.phase = Phase.CLOSED

    # -- for subclasses

    @abc.abstractmethod
    def _handle(self, frame: f.Frame) -> None:
        """Act on one decoded frame of the open phase (each end knows its own directions)."""

    def _sent_event(self, sid: int) -> None:  # noqa: B027 - optional hook; only the connector side counts
        """An event frame of attachment ``sid`` left :meth:`data_to_send`."""

    def _queue(self, frame: f.Frame, tag: int = 0) -> bytes:
        message = f.encode_frame(frame)
        self._outgoing.append((tag, message))
        return message

    def _emit(self, event: TunnelEvent) -> None:
        self._events.append(event)

    def _require_open(self) -> None:
        if self.phase is not Phase.OPEN:
            raise ProtocolError("not_open", f"the tunnel connection is {self.phase.value}")

    def _fail(self, error: ProtocolError, *, by_peer: bool = False) -> None:
        if not by_peer:
            self._queue(f.Error(error.reason, error.detail))
        self.phase = Phase.CLOSED
        self.failure = error
        self._emit(ConnectionFailed(error, by_peer))

    def _handle_common(self, frame: f.Frame) -> bool:
        match frame:
            case f.Error(code, detail):
                self._fail(ProtocolError(code, detail), by_peer=True)
            case f.Ping(nonce) if self.phase is Phase.OPEN:
                self._queue(f.Pong(nonce))
            case f.Pong(nonce) if self.phase is Phase.OPEN:
                self._emit(PongReceived(nonce))
            case f.Drain() if self.phase is Phase.OPEN:
                if not self.peer_draining:
                    self.peer_draining = True
                    self._emit(DrainRequested())
            case f.Hello() | f.Welcome() if self.phase is Phase.HANDSHAKE:
                return False
            case _ if self.phase is Phase.HANDSHAKE:
                raise ProtocolError(
                    "handshake_required", f"{type(frame).__name__.lower()} before the handshake"
                )
            case f.Hello() | f.Welcome():
                raise ProtocolError("unexpected_frame", "a second handshake")
            case _:
                return False
        return True

    def _unexpected(self, frame: f.Frame) -> ProtocolError:
        return ProtocolError("unexpected_frame", f"{type(frame).__name__.lower()} is not sent to this side")


def _agreed(ours: Iterable[str], theirs: Iterable[str]) -> tuple[str, ...]:
    theirs_set = set(theirs)
    return tuple(c for c in ours if c in theirs_set)


# --- the edge's side ---------------------------------------------------------------------------------


class EdgeSide(TunnelSide):
    """The edge's end of one tunnel connection: it waits for ``hello``, then sends requests and
    attachments (allocating every stream id) and receives responses and events."""

    def __init__(
        self,
        *,
        edge_id: str,
        capabilities: Sequence[str] = (f.BATCH_CAPABILITY,),
        versions: Sequence[int] = f.PROTOCOL_VERSIONS,
        max_frame_bytes: int = f.DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        super().__init__(versions=versions, max_frame_bytes=max_frame_bytes)
        self.edge_id = edge_id
        self.own_capabilities = tuple(capabilities)
        self._next_sid = 1
        self._requests: set[int] = set()
        self._attachments: dict[int, AgentId] = {}

    @property
    def requests_in_flight(self) -> int:
        return len(self._requests)

    def send_request(self, request: TunnelRequest) -> int:
        """Queue a request frame; returns its stream id. Raises ``PayloadTooLarge`` past the frame limit."""
        self._require_open()
        sid = self._allocate()
        message = f.encode_frame(f.Request(sid, request))
        if len(message) > self.max_frame_bytes:
            raise PayloadTooLarge("request_too_large", "the request does not fit in one tunnel frame")
        self._outgoing.append((0, message))
        self._requests.add(sid)
        return sid

    def send_cancel(self, sid: int) -> None:
        """Give up on request ``sid``; a late response is dropped. No-op when it is already over."""
        if sid in self._requests:
            self._requests.discard(sid)
            if self.phase is Phase.OPEN:
                self._queue(f.Cancel(sid))

    def send_attach(self, principal: Principal, since: int | None) -> int:
        self._require_open()
        sid = self._allocate()
        self._queue(f.Attach(sid, principal, since))
        self._attachments[sid] = principal.agent_id
        return sid

    def send_detach(self, sid: int) -> None:
        """The app went away from attachment ``sid``; events still in flight for it are dropped."""
        if self._attachments.pop(sid, None) is not None and self.phase is Phase.OPEN:
            self._queue(f.Detach(sid, "closed"))

    def _event(self, frame: f.Event) -> None:
        agent_id = self._attachments.get(frame.sid)
        if agent_id is None:
            self.late_frames += 1
        elif frame.event.agent_id != agent_id:
            # Delivering it would show one agent another agent's calls.
            raise ProtocolError("wrong_agent", f"an event for another agent on attachment {frame.sid}")
        else:
            self._emit(EventReceived(frame.sid, frame.event))

    def _allocate(self) -> int:
        sid = self._next_sid
        self._next_sid += 1
        return sid

    def _handle(self, frame: f.Frame) -> None:
        match frame:
            case f.Hello(versions, connector_id, capabilities):
                common = set(versions) & set(self.versions)
                if not common:
                    raise ProtocolError(
                        "version_mismatch",
                        f"edge speaks versions {list(self.versions)}, connector offered {list(versions)}",
                    )
                self.version = max(common)
                self.peer_id = connector_id
                self.capabilities = _agreed(self.own_capabilities, capabilities)
                self._queue(f.Welcome(self.version, self.edge_id, self.own_capabilities))
                self.phase = Phase.OPEN
                self._emit(HandshakeCompleted(self.version, connector_id, self.capabilities))
            case f.Response(sid, response):
                if sid in self._requests:
                    self._requests.discard(sid)
                    self._emit(ResponseReceived(sid, response))
                else:
                    self.late_frames += 1
            case f.Failure(sid, error):
                if sid in self._requests:
                    self._requests.discard(sid)
                    self._emit(RequestFailed(sid, ApiError.from_wire(error)))
                elif self._attachments.pop(sid, None) is not None:
                    self._emit(AttachRefused(sid, ApiError.from_wire(error)))
                else:
                    self.late_frames += 1
            case f.Attached(sid):
                if sid in self._attachments:
                    self._emit(AttachConfirmed(sid))
                else:
                    self.late_frames += 1
            case f.Event():
                self._event(frame)
            case f.Batch(events):
                if f.BATCH_CAPABILITY not in self.capabilities:
                    raise ProtocolError("unexpected_frame", "batch without the batch capability")
                for event_frame in events:
                    self._event(event_frame)
            case f.Detach(sid, reason, last_seq):
                if self._attachments.pop(sid, None) is not None:
                    self._emit(Detached(sid, reason, last_seq))
                else:
                    self.late_frames += 1
            case _:
                raise self._unexpected(frame)


# --- the connector's side ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Outbound:
    agent_id: AgentId
    pending_events: int = 0
    last_seq: int | None = None


class ConnectorSide(TunnelSide):
    """The connector's end of one tunnel connection: it sends ``hello`` at once, then answers requests
    and attachments and pushes events, at most ``max_pending_events`` unsent ones per attachment."""

    def __init__(
        self,
        *,
        connector_id: str,
        capabilities: Sequence[str] = (f.BATCH_CAPABILITY,),
        versions: Sequence[int] = f.PROTOCOL_VERSIONS,
        max_frame_bytes: int = f.DEFAULT_MAX_FRAME_BYTES,
        max_pending_events: int = DEFAULT_MAX_PENDING_EVENTS,
    ) -> None:
        super().__init__(versions=versions, max_frame_bytes=max_frame_bytes)
        self.connector_id = connector_id
        self.own_capabilities = tuple(capabilities)
        self.max_pending_events = max_pending_events
        self._requests: set[int] = set()
        self._attachments: dict[int, _Outbound] = {}
        self._queue(f.Hello(self.versions, connector_id, self.own_capabilities))

    @property
    def requests_in_flight(self) -> int:
        return len(self._requests)

    def pending_events(self, sid: int) -> int:
        """Events of attachment ``sid`` queued here and not yet returned by :meth:`data_to_send`."""
        state = self._attachments.get(sid)
        return 0 if state is None else state.pending_events

    def send_response(self, sid: int, response: TunnelResponse) -> bool:
        """Answer request ``sid``; False when the edge cancelled it (nothing is sent)."""
        if sid not in self._requests or self.phase is not Phase.OPEN:
            return False
        self._requests.discard(sid)
        message = f.encode_frame(f.Response(sid, response))
        if len(message) > self.max_frame_bytes:
            self._queue(
                f.Failure(sid, UpstreamError("response_too_large", "the answer is too large").to_wire())
            )
        else:
            self._outgoing.append((0, message))
        return True

    def send_failure(self, sid: int, error: ApiError) -> bool:
        """Fail request or attachment ``sid`` with an ``ApiError``; False when it is already over."""
        if self.phase is not Phase.OPEN:
            return False
        if sid in self._requests:
            self._requests.discard(sid)
        elif self._attachments.pop(sid, None) is None:
            return False
        self._queue(f.Failure(sid, error.to_wire()))
        return True

    def send_attached(self, sid: int) -> bool:
        if sid not in self._attachments or self.phase is not Phase.OPEN:
            return False
        self._queue(f.Attached(sid))
        return True

    def send_event(self, sid: int, event: AgentEvent) -> bool:
        """Queue one event of attachment ``sid``. False when it was not queued: the attachment is over,
        the event belongs to another agent, or the attachment overflowed just now (then ``detach`` with
        ``resync`` is queued after the events already accepted, and :class:`AttachmentOverflowed` is
        emitted so the session layer forgets this sink)."""
        state = self._attachments.get(sid)
        if state is None or self.phase is not Phase.OPEN or event.agent_id != state.agent_id:
            return False
        message = f.encode_frame(f.Event(sid, event))
        if state.pending_events >= self.max_pending_events or len(message) > self.max_frame_bytes:
            del self._attachments[sid]
            self._queue(f.Detach(sid, "resync", state.last_seq))
            self._emit(AttachmentOverflowed(sid, state.agent_id))
            return False
        self._outgoing.append((sid, message))
        state.pending_events += 1
        state.last_seq = event.seq
        return True

    def send_detach(self, sid: int, reason: str = "ended") -> bool:
        """End attachment ``sid`` from this side, after the events already queued for it."""
        state = self._attachments.pop(sid, None)
        if state is None or self.phase is not Phase.OPEN:
            return False
        self._queue(f.Detach(sid, reason, state.last_seq))
        return True

    def _sent_event(self, sid: int) -> None:
        state = self._attachments.get(sid)
        if state is not None:
            state.pending_events -= 1

    def _handle(self, frame: f.Frame) -> None:
        match frame:
            case f.Welcome(version, edge_id, capabilities):
                if version not in self.versions:
                    raise ProtocolError(
                        "version_mismatch",
                        f"edge chose version {version}, connector speaks {list(self.versions)}",
                    )
                self.version = version
                self.peer_id = edge_id
                self.capabilities = _agreed(self.own_capabilities, capabilities)
                self.phase = Phase.OPEN
                self._emit(HandshakeCompleted(version, edge_id, self.capabilities))
            case f.Request(sid, request):
                self._claim(sid)
                if self.draining:
                    self._queue(
                        f.Failure(sid, Unavailable("draining", "the connector is shutting down").to_wire())
                    )
                elif request.principal is None and request.path.startswith(AGENT_ROUTE_PREFIX):
                    error = Unauthorized("principal_required", "an agent route needs the verified caller")
                    self._queue(f.Failure(sid, error.to_wire()))
                else:
                    self._requests.add(sid)
                    self._emit(RequestReceived(sid, request))
            case f.Cancel(sid):
                if sid in self._requests:
                    self._requests.discard(sid)
                    self._emit(RequestCancelled(sid))
            case f.Attach(sid, principal, since):
                self._claim(sid)
                if self.draining:
                    self._queue(
                        f.Failure(sid, Unavailable("draining", "the connector is shutting down").to_wire())
                    )
                else:
                    self._attachments[sid] = _Outbound(principal.agent_id)
                    self._emit(AttachRequested(sid, principal, since))
            case f.Detach(sid, reason, last_seq):
                if self._attachments.pop(sid, None) is not None:
                    self._emit(Detached(sid, reason, last_seq))
            case _:
                raise self._unexpected(frame)

    def _claim(self, sid: int) -> None:
        if sid in self._requests or sid in self._attachments:
            raise ProtocolError("duplicate_stream", f"stream {sid} is already open")
