"""The connector's tunnel client: keeps ``connections_per_edge`` connections open to every edge URL.

Each connection slot dials, handshakes, serves until the connection ends, then redials after an
exponential backoff with jitter (reset once a connection got through the handshake), until the client
drains. The LAN opens no port: every connection is outbound.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Callable, Sequence
from types import TracebackType

import structlog

from connector.tunnel.backoff import Backoff
from connector.tunnel.config import TunnelClientConfig, client_ssl_context
from connector.tunnel.dial import DialFailed, dial
from connector.tunnel.link import ConnectorLink
from connector.tunnel.service import TunnelService
from connector.tunnel.stats import ClientStats
from edge.tunnel.errors import ConfigError
from edge.tunnel.frames import DEFAULT_MAX_FRAME_BYTES
from edge.tunnel.protocol import DEFAULT_MAX_PENDING_EVENTS, ConnectorSide


class TunnelClient:
    """Dials the edges and serves their requests and event attachments through ``service``.

    ``ssl_context`` carries the connector's client certificate and trusts the tunnel CA (it must verify
    the edge: ``CERT_REQUIRED``). It may be a factory instead, called for every dial, so a rotated
    certificate is used from the next connection on; when a later call fails (``ConfigError``), the last
    good context keeps being used and the failure is logged.

    Use as ``async with TunnelClient(...) as client:`` or ``start()`` / ``drain()``.
    """

    def __init__(
        self,
        *,
        urls: Sequence[str],
        ssl_context: ssl.SSLContext | Callable[[], ssl.SSLContext],
        service: TunnelService,
        connector_id: str,
        connections_per_edge: int = 2,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 30.0,
        rng: random.Random | None = None,
        open_timeout_s: float = 10.0,
        handshake_timeout_s: float = 10.0,
        keepalive_interval_s: float = 10.0,
        keepalive_timeout_s: float = 10.0,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_pending_events: int = DEFAULT_MAX_PENDING_EVENTS,
        max_concurrent_requests: int = 256,
        drain_timeout_s: float = 30.0,
    ) -> None:
        problems = []
        if not urls:
            problems.append(("urls", "must list at least one edge tunnel URL"))
        problems += [
            ("urls", f"{url!r}: must start with wss://") for url in urls if not url.startswith("wss://")
        ]
        # A factory is called once now, so that bad certificate files fail at start-up, not at first dial.
        initial_context = ssl_context if isinstance(ssl_context, ssl.SSLContext) else ssl_context()
        if initial_context.verify_mode != ssl.CERT_REQUIRED:
            problems.append(("ssl_context", "must verify the edge's certificate (CERT_REQUIRED)"))
        if connections_per_edge < 1:
            problems.append(("connections_per_edge", "must be at least 1"))
        if problems:
            raise ConfigError("tunnel client", problems)
        self._urls = tuple(urls)
        self._ssl_source = ssl_context
        self._ssl_context = initial_context
        self._service = service
        self._connector_id = connector_id
        self._connections_per_edge = connections_per_edge
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._rng = rng or random.Random()
        self._open_timeout_s = open_timeout_s
        self._handshake_timeout_s = handshake_timeout_s
        self._keepalive_interval_s = keepalive_interval_s
        self._keepalive_timeout_s = keepalive_timeout_s
        self._max_frame_bytes = max_frame_bytes
        self._max_pending_events = max_pending_events
        self._limiter = asyncio.Semaphore(max_concurrent_requests)
        self._drain_timeout_s = drain_timeout_s
        self.stats = ClientStats()
        self._log = structlog.get_logger("fingress.connector.tunnel").bind(connector_id=connector_id)
        self._slots: list[asyncio.Task[None]] = []
        self._links: list[ConnectorLink] = []
        self._stopping = False
        self._changed = asyncio.Event()

    @classmethod
    def from_config(
        cls, config: TunnelClientConfig, *, service: TunnelService, ssl_context: ssl.SSLContext | None = None
    ) -> TunnelClient:
        """Build from the validated ``[tunnel]`` table. Unless a context is given, the certificate files are
        read again for every dial (rotation needs no restart). Raises ``ConfigError``."""
        return cls(
            urls=config.urls,
            ssl_context=ssl_context or (lambda: client_ssl_context(config)),
            service=service,
            connector_id=config.connector_id,
            connections_per_edge=config.connections_per_edge,
            backoff_base_s=config.backoff_base_s,
            backoff_max_s=config.backoff_max_s,
            open_timeout_s=config.open_timeout_s,
            keepalive_interval_s=config.keepalive_interval_s,
            keepalive_timeout_s=config.keepalive_timeout_s,
            max_frame_bytes=config.max_frame_bytes,
            max_pending_events=config.max_pending_events,
            max_concurrent_requests=config.max_concurrent_requests,
            drain_timeout_s=config.drain_timeout_s,
        )

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every connection slot (once); returns at once (see :meth:`wait_for_connections`)."""
        if self._slots:
            return
        self._stopping = False
        for url in self._urls:
            for index in range(self._connections_per_edge):
                self._slots.append(asyncio.create_task(self._run_slot(url), name=f"tunnel-slot-{index}"))

    @property
    def links(self) -> tuple[ConnectorLink, ...]:
        """The handshaken connections, for diagnostics (and tests that cut one)."""
        return tuple(self._links)

    @property
    def connections_open(self) -> int:
        return sum(1 for link in self._links if link.is_open)

    async def wait_for_connections(self, count: int = 1) -> None:
        """Return once at least ``count`` connections are open (bound it with a timeout)."""
        while self.connections_open < count:
            await self._changed.wait()

    async def drain(self, *, timeout_s: float | None = None) -> None:
        """Graceful shutdown: stop redialling; on every connection tell the edge to send nothing new
        (it moves event streams to other connections), let in-flight requests finish (up to
        ``timeout_s``, default the configured ``drain_timeout_s``), then close."""
        self._stopping = True
        limit_s = self._drain_timeout_s if timeout_s is None else timeout_s
        links = list(self._links)
        await asyncio.gather(*(link.drain(timeout_s=limit_s) for link in links))
        await self._stop_slots()

    async def abort(self) -> None:
        """Drop every connection at once and stop (a crash, for tests)."""
        self._stopping = True
        for link in list(self._links):
            link.abort()
        await self._stop_slots()

    async def __aenter__(self) -> TunnelClient:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.drain()

    async def _stop_slots(self) -> None:
        for slot in self._slots:
            slot.cancel()
        await asyncio.gather(*self._slots, return_exceptions=True)
        self._slots.clear()

    # --- one connection slot -------------------------------------------------------------------------

    async def _run_slot(self, url: str) -> None:
        backoff = Backoff(base_s=self._backoff_base_s, max_s=self._backoff_max_s, rng=self._rng)
        while not self._stopping:
            try:
                if await self._connect_once(url):
                    backoff.reset()
            except Exception:
                # A bug must not cost this slot for good: log it and redial like after any failure.
                self._log.exception("tunnel_slot_failed")
            if self._stopping:
                return
            delay_s = backoff.next_delay_s()
            self._log.debug("tunnel_redial_scheduled", delay_s=round(delay_s, 3), attempt=backoff.attempts)
            await asyncio.sleep(delay_s)

    async def _connect_once(self, url: str) -> bool:
        """Dial, handshake and serve one connection; True when the handshake succeeded."""
        self.stats.dials += 1
        try:
            connection = await dial(
                url,
                ssl_context=self._dial_context(),
                open_timeout_s=self._open_timeout_s,
                max_frame_bytes=self._max_frame_bytes,
                keepalive_interval_s=self._keepalive_interval_s,
                keepalive_timeout_s=self._keepalive_timeout_s,
            )
        except DialFailed as error:
            self.stats.dial_failures += 1
            self._log.warning("tunnel_dial_failed", reason=error.reason, detail=error.detail)
            return False
        protocol = ConnectorSide(
            connector_id=self._connector_id,
            max_frame_bytes=self._max_frame_bytes,
            max_pending_events=self._max_pending_events,
        )
        link = ConnectorLink(
            connection=connection,
            protocol=protocol,
            service=self._service,
            stats=self.stats,
            limiter=self._limiter,
            log=self._log,
        )
        try:
            if not await link.handshake(timeout_s=self._handshake_timeout_s):
                self.stats.dial_failures += 1
                reason = protocol.failure.reason if protocol.failure else "handshake_timeout"
                self._log.warning("tunnel_handshake_failed", reason=reason)
                return False
            self._links.append(link)
            self.stats.connections_open += 1
            self._log.info("tunnel_connected", edge_id=protocol.peer_id, version=protocol.version)
            self._notify()
            try:
                await link.run()
            finally:
                self._links.remove(link)
                self.stats.connections_open -= 1
                self._notify()
        finally:
            # Normally closed already; when the slot is cancelled mid-way, do not leave it open.
            link.abort()
        self._log.info("tunnel_disconnected", edge_id=protocol.peer_id)
        return True

    def _dial_context(self) -> ssl.SSLContext:
        if isinstance(self._ssl_source, ssl.SSLContext):
            return self._ssl_source
        try:
            context = self._ssl_source()
        except ConfigError as error:
            self._log.warning("tunnel_tls_reload_failed", problems=error.problems)
            return self._ssl_context
        if context.verify_mode != ssl.CERT_REQUIRED:
            self._log.warning("tunnel_tls_reload_failed", problems=[("ssl_context", "not CERT_REQUIRED")])
            return self._ssl_context
        self._ssl_context = context
        return context

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
