"""The edge's tunnel listener: connectors dial in here over mutual TLS, and the public app reaches them
through the :class:`~edge.upstream.Upstream` this class implements.

Routing: an agent's requests and event streams go to one connector: the one that last answered for the
agent's session while it is usable (:mod:`edge.relay.holders`), otherwise the one chosen by rendezvous
hashing of the agent id over the connectors that are up (an agent's Finesse session lives on one
connector); a ``no_session`` answer sends the request or stream on to the other connectors, each once
(the session may be on another); within a connector, to its least-loaded connection (ties in turn).
When a connection is lost, its in-flight requests fail at once with ``connector_lost`` (a ``GET`` is
retried once on another connection: it changes nothing), and its event streams get an ``alert`` and are
re-attached on another connection with ``since`` = the last seq delivered, so nothing is lost or
duplicated; with no connection left they wait and re-attach as soon as a connector is back.

Drain: a connector that shuts down drains all its connections, each on its own socket, so the edge hears
the ``drain`` of one a moment before the others'. The edge therefore treats the connector as draining as a
whole from its first ``drain``: every connection of it that is up then is marked
(:attr:`~edge.relay.link.EdgeLink.connector_draining`) and no event stream moves onto one. The streams of
a draining connection move at once to a connection that takes them (another connector's, or a fresh one of
this connector that connected after the drain began), as soon as one connects, or when the draining
connection closes, quietly (the connector kept serving them until then; the re-attach resumes after the
last seq delivered). With none left they wait like the streams of a lost connection. When the draining
connections are gone and a marked sibling never drained, the connector only let one connection go: the
sibling takes streams again (and the closed connection's streams with it).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import weakref
from collections.abc import Callable, Collection
from http import HTTPStatus
from types import TracebackType

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from edge.relay.holders import SessionHolders
from edge.relay.identity import accepted_identity
from edge.relay.link import EdgeLink
from edge.relay.stats import RelayStats
from edge.relay.stream import RelayEventStream, utc_timestamp
from edge.tunnel.errors import ApiError, ConfigError, Unavailable, UpstreamTimeout
from edge.tunnel.frames import DEFAULT_MAX_FRAME_BYTES
from edge.tunnel.messages import Principal, TunnelRequest, TunnelResponse
from edge.tunnel.protocol import EdgeSide, Phase

DEFAULT_TUNNEL_PORT = 8444
_SAFE_METHODS = frozenset({"GET", "HEAD"})
# Retry-After of a 503 no_connector: a connector restart takes seconds, and apps that retry without
# a pause while none is up (thousands of them) take the CPU the restarting tiers need to come back.
NO_CONNECTOR_RETRY_AFTER_S = 1.0
# The connector's error code for an agent it holds no session for (connector.sessions).
NO_SESSION = "no_session"
# The public API's sign-out (edge.api.routes): the session it ends is no reason to prefer its connector.
SIGN_OUT = ("DELETE", "/api/v1/agent/session")


def _rendezvous_weight(agent_id: str, connector_id: str) -> int:
    digest = hashlib.blake2b(f"{agent_id}\0{connector_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class TunnelRelay:
    """Accepts connector tunnels and implements ``edge.upstream.Upstream`` over them.

    ``ssl_context`` must require client certificates (``CERT_REQUIRED``) from the tunnel CA; a connector
    is accepted only when its certificate carries one of ``allowed_identities`` (exact match; an identity
    written as a URI matches only a SAN URI, any other a subject CN or SAN DNS name; see
    :mod:`edge.relay.identity`). Use as ``async with TunnelRelay(...) as relay:`` or ``start()`` /
    ``drain()``.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        allowed_identities: Collection[str],
        host: str = "127.0.0.1",
        port: int = DEFAULT_TUNNEL_PORT,
        path: str = "/tunnel",
        edge_id: str = "edge",
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_queued_events: int = 256,
        handshake_timeout_s: float = 10.0,
        attach_timeout_s: float = 10.0,
        keepalive_interval_s: float = 10.0,
        keepalive_timeout_s: float = 10.0,
        now: Callable[[], str] = utc_timestamp,
    ) -> None:
        problems = []
        if ssl_context.verify_mode != ssl.CERT_REQUIRED:
            problems.append(("ssl_context", "must require client certificates (CERT_REQUIRED)"))
        if not allowed_identities:
            problems.append(("allowed_identities", "must name at least one connector"))
        if max_queued_events < 1:
            problems.append(("max_queued_events", "must be at least 1"))
        if problems:
            raise ConfigError("tunnel listener", problems)
        self._ssl_context = ssl_context
        self._allowed = frozenset(allowed_identities)
        self._host = host
        self._port = port
        self._path = path
        self._edge_id = edge_id
        self._max_frame_bytes = max_frame_bytes
        self._max_queued_events = max_queued_events
        self._handshake_timeout_s = handshake_timeout_s
        self._attach_timeout_s = attach_timeout_s
        self._keepalive_interval_s = keepalive_interval_s
        self._keepalive_timeout_s = keepalive_timeout_s
        self._now = now
        self.stats = RelayStats()
        self._log = structlog.get_logger("fingress.edge.relay")
        self._server: Server | None = None
        self._links: list[EdgeLink] = []
        # Set by the opening-handshake hook, read by the handler; weak so a failed handshake leaks nothing.
        self._identities: weakref.WeakKeyDictionary[ServerConnection, str] = weakref.WeakKeyDictionary()
        self._orphans: set[RelayEventStream] = set()
        self._draining = False
        self._turn = 0
        self._changed = asyncio.Event()
        self._holders = SessionHolders()

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and listen (``port=0`` picks a free port: see :attr:`port`). Raises ``OSError``."""
        self._server = await serve(
            self._serve_connection,
            self._host,
            self._port,
            ssl=self._ssl_context,
            process_request=self._check_peer,
            compression=None,  # loopback/DMZ link; CPU matters more than bytes here
            max_size=self._max_frame_bytes,
            ping_interval=self._keepalive_interval_s,
            ping_timeout=self._keepalive_timeout_s,
            open_timeout=self._handshake_timeout_s,
            server_header=None,
        )

    @property
    def port(self) -> int:
        """The bound port (useful with ``port=0``)."""
        if self._server is None:
            raise RuntimeError("the tunnel listener is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def drain(self, *, timeout_s: float = 30.0) -> None:
        """Graceful shutdown: refuse new work, tell every connector to drain, let in-flight requests
        finish (up to ``timeout_s``), end event streams with ``resync`` (the app resumes on another edge),
        then close. Safe to call more than once."""
        if self._server is None:
            return
        self._draining = True
        self._notify()
        for link in self._links:
            link.send_drain()
        try:
            async with asyncio.timeout(timeout_s):
                for link in list(self._links):
                    await link.wait_idle()
        except TimeoutError:
            self._log.warning("tunnel_drain_timed_out", requests=sum(link.load for link in self._links))
        for stream in [*self._orphans, *(s for link in self._links for s in link.streams.values())]:
            stream.end_with_resync("edge_draining")
        self._orphans.clear()
        server, self._server = self._server, None
        server.close()
        await server.wait_closed()

    async def abort(self) -> None:
        """Stop at once: drop every connection without a closing handshake (a crash, for tests)."""
        if self._server is None:
            return
        self._draining = True
        server, self._server = self._server, None
        server.close(close_connections=False)
        for link in list(self._links):
            link.abort()
        for connection in list(server.connections):
            if connection.transport is not None:
                connection.transport.abort()
        await server.wait_closed()

    async def __aenter__(self) -> TunnelRelay:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.drain()

    # --- Upstream ------------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True while at least one connector connection is up and not draining."""
        return not self._draining and any(link.usable for link in self._links)

    @property
    def links(self) -> tuple[EdgeLink, ...]:
        """The handshaken connector connections, for diagnostics (and tests that cut one)."""
        return tuple(self._links)

    def connection_count(self) -> int:
        """Connector connections up now (the metrics gauge reads this at scrape time)."""
        return len(self._links)

    @property
    def connections_usable(self) -> int:
        return sum(1 for link in self._links if link.usable)

    async def wait_for_connections(self, count: int = 1) -> None:
        """Return once at least ``count`` connector connections are usable (bound it with a timeout)."""
        while self.connections_usable < count:
            await self._changed.wait()

    async def request(self, request: TunnelRequest, *, timeout_s: float) -> TunnelResponse:
        """Forward one request. Raises ``Unavailable`` (``no_connector``, with ``retry_after_s``;
        ``draining``; ``connector_lost``), ``UpstreamTimeout`` or the connector's ``ApiError``."""
        self._refuse_if_draining()
        self.stats.requests += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        may_retry = request.method in _SAFE_METHODS
        agent_id = None if request.principal is None else request.principal.agent_id
        asked: set[str] = set()  # connectors that answered no_session
        while True:
            link = self._pick(agent_id, skip=asked)
            if link is None:
                raise _no_connector()
            try:
                response = await link.request(request, timeout_s=max(0.0, deadline - loop.time()))
            except Unavailable as error:
                if error.code != "connector_lost" or not may_retry:
                    raise
                may_retry = False
                self.stats.requests_retried += 1
            except ApiError as error:
                # no_session: the connector did nothing, so another may be asked the same (see _search_on).
                if agent_id is None or not self._search_on(error, agent_id, link.connector_id, asked):
                    raise
            else:
                if agent_id is not None and response.status < 300:
                    if (request.method, request.path) == SIGN_OUT:
                        self._holders.forget(agent_id)
                    else:
                        self._holders.answered(agent_id, link.connector_id)
                return response

    async def open_events(self, principal: Principal, *, since: int | None) -> RelayEventStream:
        """Attach to the agent's event stream through a connector (see ``Upstream.open_events``)."""
        self._refuse_if_draining()
        asked: set[str] = set()  # connectors that answered no_session
        while True:
            link = self._pick(principal.agent_id, skip=asked)
            if link is None:
                raise _no_connector()
            stream = RelayEventStream(
                principal=principal,
                since=since,
                max_queued_events=self._max_queued_events,
                on_close=self._stream_closed,
                on_overflow=self._stream_overflowed,
                now=self._now,
            )
            self.stats.streams_open += 1
            link.attach(stream)
            try:
                async with asyncio.timeout(self._attach_timeout_s):
                    await stream.attached
            except ApiError as error:
                await stream.close()
                if not self._search_on(error, principal.agent_id, link.connector_id, asked):
                    raise
                continue
            except TimeoutError:
                await stream.close()
                raise UpstreamTimeout(
                    "upstream_timeout", "the connector did not open the event stream in time"
                ) from None
            except BaseException:
                await stream.close()
                raise
            if stream.link is not None:
                self._holders.answered(principal.agent_id, stream.link.connector_id)
            return stream

    # --- connections ---------------------------------------------------------------------------------

    def _check_peer(self, connection: ServerConnection, request: Request) -> Response | None:
        """Opening handshake hook: the TLS layer verified the chain; here the name must be allowed."""
        ssl_object = connection.transport.get_extra_info("ssl_object") if connection.transport else None
        peer_cert = ssl_object.getpeercert() if ssl_object is not None else None
        identity = accepted_identity(peer_cert, self._allowed)
        if identity is None:
            self.stats.connections_refused += 1
            self._log.warning("tunnel_refused", reason="identity_not_allowed", peer=connection.remote_address)
            return connection.respond(HTTPStatus.FORBIDDEN, "connector identity not allowed\n")
        if request.path != self._path:
            self.stats.connections_refused += 1
            return connection.respond(HTTPStatus.NOT_FOUND, "no such tunnel endpoint\n")
        if self._draining:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "draining\n")
        self._identities[connection] = identity
        return None

    async def _serve_connection(self, connection: ServerConnection) -> None:
        identity = self._identities.pop(connection, "")
        protocol = EdgeSide(edge_id=self._edge_id, max_frame_bytes=self._max_frame_bytes)
        if not await self._handshake(connection, protocol):
            return
        link = EdgeLink(
            connection=connection,
            protocol=protocol,
            identity=identity,
            stats=self.stats,
            on_drain_requested=self._link_draining,
            log=self._log,
        )
        self._links.append(link)
        self.stats.connections_accepted += 1
        self.stats.connections_open += 1
        self._log.info("tunnel_connected", connector_id=link.connector_id, identity=identity)
        self._adopt_orphans()
        for other in self._links:
            if other.protocol.peer_draining:
                self._move_streams_off(other)
        self._notify()
        try:
            leftover = await link.run()
        finally:
            self._links.remove(link)
            self.stats.connections_open -= 1
            if link.protocol.peer_draining:
                self._connector_drain_settled(link.connector_id)
            self._notify()
        self._log.info("tunnel_disconnected", connector_id=link.connector_id, streams=len(leftover))
        self._rehome(leftover, drained=link.protocol.peer_draining)

    async def _handshake(self, connection: ServerConnection, protocol: EdgeSide) -> bool:
        try:
            async with asyncio.timeout(self._handshake_timeout_s):
                while protocol.phase is Phase.HANDSHAKE:
                    protocol.receive_message(await connection.recv(decode=False))
            for frame in protocol.data_to_send():
                await connection.send(frame, text=True)  # frames are UTF-8 text messages (PROTOCOL.md)
        except (TimeoutError, ConnectionClosed):
            self.stats.connections_refused += 1
            return False
        protocol.events_received()
        if protocol.is_open:
            return True
        self.stats.connections_refused += 1
        self.stats.protocol_errors += 1
        reason = protocol.failure.reason if protocol.failure else "handshake_failed"
        self._log.warning("tunnel_refused", reason=reason)
        await connection.close(1002, reason[:120])
        return False

    # --- routing -------------------------------------------------------------------------------------

    def _pick(
        self, agent_id: str | None, *, moving: bool = False, skip: Collection[str] = ()
    ) -> EdgeLink | None:
        """The connection for the agent's new work, or, ``moving`` an event stream that already runs,
        one that takes streams (no connection of a draining connector); none of the connectors in
        ``skip``."""
        usable = [
            link
            for link in self._links
            if (link.takes_streams if moving else link.usable) and link.connector_id not in skip
        ]
        if not usable:
            return None
        if agent_id is not None:
            connectors = {link.connector_id for link in usable}
            owner = self._holders.holder(agent_id)
            if owner not in connectors:
                owner = max(connectors, key=lambda c: _rendezvous_weight(agent_id, c))
            usable = [link for link in usable if link.connector_id == owner]
        least = min(link.load for link in usable)
        candidates = [link for link in usable if link.load == least]
        self._turn += 1
        return candidates[self._turn % len(candidates)]

    def _search_on(self, error: ApiError, agent_id: str, connector_id: str, asked: set[str]) -> bool:
        """After ``connector_id`` refused the agent's request or stream with ``error``: whether to send it
        on to another connector. Only for ``no_session`` (the connector did nothing), to each connector
        once: an edge that has not seen the agent since its session moved (it restarted; the agent moved
        while another edge served it) finds the session where it is instead of telling the app to sign in
        again beside it. ``no_session`` from every usable connector is the answer."""
        if error.code != NO_SESSION:
            return False
        self._holders.holds_none(agent_id, connector_id)
        asked.add(connector_id)
        if self._pick(agent_id, skip=asked) is None:
            return False
        self.stats.session_searches += 1
        return True

    def _refuse_if_draining(self) -> None:
        if self._draining:
            raise Unavailable("draining", "the edge is shutting down")

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- event streams -------------------------------------------------------------------------------

    def _rehome(self, streams: list[RelayEventStream], *, drained: bool) -> None:
        """Streams whose connection ended: re-attach them elsewhere, or park them. Unless the connection
        had ``drained`` and another takes them, the app gets a ``connector_lost`` alert first."""
        for stream in streams:
            stream.link, stream.sid = None, None
            if not stream.attached.done():
                stream.attached.set_exception(
                    Unavailable("connector_lost", "the connector connection was lost")
                )
                continue
            if stream.ended:
                continue
            if self._draining:
                stream.end_with_resync("edge_draining")
                continue
            target = self._pick(stream.agent_id, moving=True)
            if drained and target is not None:
                # The connector served this stream until it closed the connection: a move, like one at
                # drain time; the re-attach resumes after the last seq delivered.
                self.stats.reattachments += 1
                target.attach(stream)
                continue
            stream.alert("connector_lost", reattaching=target is not None)
            stream.awaiting_recovery = True
            if target is None:
                self._orphans.add(stream)
            else:
                self.stats.reattachments += 1
                target.attach(stream)

    def _adopt_orphans(self) -> None:
        for stream in list(self._orphans):
            target = self._pick(stream.agent_id, moving=True)
            if target is None:
                return
            self._orphans.discard(stream)
            self.stats.reattachments += 1
            target.attach(stream)

    def _link_draining(self, link: EdgeLink) -> None:
        """A connection sent ``drain``: its connector is shutting down (all its connections drain, each
        heard a moment apart), unless this connection was up only after the connector's drain began
        (a newer one going too). Mark the connector's connections, then move this one's streams."""
        if not link.connector_draining:
            for other in self._links:
                if other.connector_id == link.connector_id:
                    other.connector_draining = True
        self._notify()
        self._move_streams_off(link)

    def _move_streams_off(self, link: EdgeLink) -> None:
        """Move a draining connection's confirmed streams to connections that take streams, now, so
        nothing is lost when it closes (the re-attach resumes after the last seq delivered). A stream
        with nowhere to go stays: the connector keeps serving it until the connection closes."""
        for stream in list(link.streams.values()):
            if not stream.attached.done():
                continue
            target = self._pick(stream.agent_id, moving=True)
            if target is None:
                continue
            link.detach(stream)
            self.stats.reattachments += 1
            target.attach(stream)

    def _connector_drain_settled(self, connector_id: str) -> None:
        """A draining connection of ``connector_id`` closed. Once none of its connections drains any more,
        those still up (that never sent ``drain``) take streams again."""
        siblings = [link for link in self._links if link.connector_id == connector_id]
        if not any(link.protocol.peer_draining for link in siblings):
            for sibling in siblings:
                sibling.connector_draining = False

    def _stream_closed(self, stream: RelayEventStream) -> None:
        self.stats.streams_open -= 1
        self._orphans.discard(stream)
        if stream.link is not None:
            stream.link.detach(stream)

    def _stream_overflowed(self, stream: RelayEventStream) -> None:
        self.stats.dropped_attachments += 1
        if not stream.attached.done():
            # A replay larger than the queue: hand the app what fits, then the resync marker.
            stream.attached.set_result(None)
        self._orphans.discard(stream)
        if stream.link is not None:
            stream.link.detach(stream)


def _no_connector() -> Unavailable:
    """The 503 for "no connector is up", carrying ``retry_after_s`` (the Retry-After header)."""
    return Unavailable("no_connector", "no connector is connected", retry_after_s=NO_CONNECTOR_RETRY_AFTER_S)
