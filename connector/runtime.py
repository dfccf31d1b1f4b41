"""The connector's composition root: everything one connector process runs, wired once.

::

    async with Connector(config=load_config(path), links=links) as connector:
        ...  # sessions are served through connector.manager (and the tunnel, when configured)

One HTTP client (small pool) and one REST client per Finesse side are shared by every session; the
admin listener serves health, readiness and metrics on loopback; the tunnel client (when the ``tunnel``
table is present) dials the edges and hands their requests to the session manager.
"""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Self

import httpx
import structlog

from connector.config import ConnectorConfig, SideName
from connector.finesse.client import FinesseClient, build_http_client
from connector.ops.admin import AdminServer, Readiness, build_admin_app
from connector.ops.metrics import ConnectorMetrics
from connector.sessions.context import SessionContext
from connector.sessions.links import LinkFactory
from connector.sessions.manager import SessionManager
from connector.sessions.xmpp_links import XmppLinkFactory
from connector.tunnel.client import TunnelClient

_log = structlog.get_logger(__name__)


def finesse_ssl_context(config: ConnectorConfig) -> ssl.SSLContext:
    """Trust for Finesse: the system store plus every side's CA file (verification is always on)."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for side in (config.finesse.side_a, config.finesse.side_b):
        if side is not None and side.ca_file is not None:
            context.load_verify_locations(cafile=str(side.ca_file))
    return context


class Connector:
    """One connector process. ``links`` opens the agents' notification links; by default XMPP links to
    the configured sides, trusting what ``finesse_tls`` (default: :func:`finesse_ssl_context`) trusts."""

    def __init__(
        self,
        *,
        config: ConnectorConfig,
        links: LinkFactory | None = None,
        finesse_tls: ssl.SSLContext | None = None,
        tunnel_tls: ssl.SSLContext | None = None,
        metrics: ConnectorMetrics | None = None,
    ) -> None:
        self.config = config
        self._links = links
        self._finesse_tls = finesse_tls
        self._tunnel_tls = tunnel_tls
        self.metrics = metrics or ConnectorMetrics()
        self._http: httpx.AsyncClient | None = None
        self._manager: SessionManager | None = None
        self._admin: AdminServer | None = None
        self._tunnel: TunnelClient | None = None

    @property
    def manager(self) -> SessionManager:
        if self._manager is None:
            raise RuntimeError("the connector is not started")
        return self._manager

    @property
    def admin_port(self) -> int:
        if self._admin is None:
            raise RuntimeError("the connector is not started")
        return self._admin.port

    async def __aenter__(self) -> Self:
        config = self.config
        finesse_tls = self._finesse_tls or finesse_ssl_context(config)
        if self._links is None:
            self._links = XmppLinkFactory(config=config, ssl_context=finesse_tls)
        self._http = build_http_client(ssl_context=finesse_tls, timeout_s=config.finesse.request_timeout_s)
        try:
            base_urls: dict[SideName, str] = {"A": config.finesse.side_a.rest_url}
            if config.finesse.side_b is not None:
                base_urls["B"] = config.finesse.side_b.rest_url
            finesse = {
                side: FinesseClient(http=self._http, base_url=url, side=side, observer=self.metrics)
                for side, url in base_urls.items()
            }
            context = SessionContext(
                config=config,
                finesse=finesse,
                links=self._links,
                metrics=self.metrics,
            )
            self._manager = SessionManager(context=context)
            readiness = Readiness(finesse=finesse, sides=context.sides)
            self._admin = AdminServer(
                app=build_admin_app(metrics=self.metrics, readiness=readiness),
                host=config.admin.host,
                port=config.admin.port,
            )
            await self._admin.start()
            if config.tunnel is not None:
                self._tunnel = TunnelClient.from_config(
                    config.tunnel, service=self._manager, ssl_context=self._tunnel_tls
                )
                await self._tunnel.start()
        except BaseException:
            await self.close()
            raise
        _log.info("connector_started", sides=sorted(base_urls), admin_port=self._admin.port)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Drain the tunnel, stop the sessions (Finesse states untouched), stop listening. Idempotent."""
        tunnel, self._tunnel = self._tunnel, None
        if tunnel is not None:
            await tunnel.drain()
        manager = self._manager
        if manager is not None:
            await manager.aclose()
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.close()
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()
