"""The connector's composition root: everything one connector process runs, wired once.

::

    async with Connector(config=load_config(path), links=links) as connector:
        ...  # sessions are served through connector.manager (and the tunnel, when configured)

One HTTP client (small pool) and one REST client per Finesse side are shared by every session; the
admin listener serves health, readiness and metrics on loopback; the tunnel client (when the ``tunnel``
table is present) dials the edges and hands their requests to the session manager.

Reload (:meth:`Connector.reload`, SIGHUP in ``fingress connector``) is atomic: the file is loaded and
validated, compared with the running settings, and applied by swapping one reference
(:meth:`~connector.sessions.context.SessionContext.replace_config`); on any failure nothing changes.

Settings that apply live (the sessions read them when they act):

- ``finesse.action_timeout_s`` (actions started after the reload);
- ``sessions.disconnect_grace_s`` and ``sessions.grace_policy`` (graces started / expiring after it, in
  existing sessions too); ``sessions.max_sessions`` (sign-ins after it);
- ``sessions.event_buffer_size`` (sessions created after it: a session's buffer is sized once);
- ``xmpp.reconnect_base_s``, ``xmpp.reconnect_max_s``, ``xmpp.reconnect_jitter``,
  ``xmpp.alert_after_failures``;
- ``failover.*``.

Settings baked into objects built at start (:data:`RESTART_ONLY`): a reload whose file changes any of them
is refused whole, naming them ("restart to apply"): ``finesse.side_a`` / ``side_b`` (REST clients, XMPP
addresses, CA files), ``finesse.auth_mode``, ``finesse.request_timeout_s`` (the shared HTTP client),
``xmpp.ping_interval_s`` and ``xmpp.connect_timeout_s`` (the XMPP link factory), ``tunnel``, ``admin``.
The tunnel client reads its certificate and key files again on every dial: renewing them needs no reload.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import httpx
import structlog

from connector.config import ConnectorConfig, SideName, load_config
from connector.finesse.client import FinesseClient, build_http_client
from connector.ops.admin import AdminServer, Readiness, build_admin_app
from connector.ops.metrics import ConnectorMetrics
from connector.sessions.context import SessionContext
from connector.sessions.links import LinkFactory
from connector.sessions.manager import SessionManager
from connector.sessions.xmpp_links import XmppLinkFactory
from connector.tunnel.client import TunnelClient
from edge.tunnel.errors import ConfigError

_log = structlog.get_logger(__name__)

# Key paths (and their prefixes) whose value is baked into an object built at start.
RESTART_ONLY = (
    "finesse.side_a",
    "finesse.side_b",
    "finesse.auth_mode",
    "finesse.request_timeout_s",
    "xmpp.ping_interval_s",
    "xmpp.connect_timeout_s",
    "tunnel",
    "admin",
)

ReloadResult = Literal["applied", "unchanged", "refused", "invalid"]


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What a reload did. ``applied``: ``changed`` now serves; ``unchanged``: the file matches the running
    settings; ``refused``: ``changed`` holds restart-only key paths and nothing was applied; ``invalid``:
    the file did not load (``problems``: key path, message) and nothing was applied."""

    outcome: ReloadResult
    changed: tuple[str, ...] = ()
    problems: tuple[tuple[str, str], ...] = ()


def changed_key_paths(old: ConnectorConfig, new: ConnectorConfig) -> tuple[str, ...]:
    """The dotted key paths of every leaf whose value differs (tables present in one only count whole)."""
    return tuple(sorted(_diff(old.model_dump(), new.model_dump(), "")))


def _diff(old: Any, new: Any, prefix: str) -> Iterator[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                yield path
            else:
                yield from _diff(old[key], new[key], path)
    elif old != new:
        yield prefix


def restart_only(key_path: str) -> bool:
    """True when ``key_path`` (or a table holding it) is in :data:`RESTART_ONLY`."""
    return any(key_path == name or key_path.startswith(name + ".") for name in RESTART_ONLY)


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
        self._context: SessionContext | None = None

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
            self._context = context
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

    def reload(self, path: Path) -> ReloadOutcome:
        """Load ``path`` and apply it when every changed setting applies live; otherwise keep serving the
        running settings. Logs and counts the outcome; never raises for a bad file."""
        outcome = self._reload(path)
        self.metrics.reload_finished(outcome.outcome)
        if outcome.outcome == "applied":
            _log.info("config_reloaded", path=str(path), changed=list(outcome.changed))
        elif outcome.outcome == "unchanged":
            _log.info("config_reload_unchanged", path=str(path))
        elif outcome.outcome == "refused":
            _log.error(
                "config_reload_refused",
                path=str(path),
                restart_only=list(outcome.changed),
                hint="restart to apply; the running configuration keeps serving",
            )
        else:
            _log.error(
                "config_reload_failed",
                path=str(path),
                problems=[f"{key or '(file)'}: {message}" for key, message in outcome.problems],
                hint="the running configuration keeps serving",
            )
        return outcome

    def _reload(self, path: Path) -> ReloadOutcome:
        context = self._context
        if context is None:
            raise RuntimeError("the connector is not started")
        try:
            new = load_config(path)
        except ConfigError as error:
            return ReloadOutcome("invalid", problems=tuple(error.problems))
        changed = changed_key_paths(self.config, new)
        if not changed:
            return ReloadOutcome("unchanged")
        refused = tuple(key for key in changed if restart_only(key))
        if refused:
            return ReloadOutcome("refused", changed=refused)
        context.replace_config(new)
        self.config = new
        return ReloadOutcome("applied", changed=changed)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Drain the tunnel (in-flight requests finish), stop the sessions (their XMPP sessions close;
        Finesse states untouched: no agent is signed out), stop listening. Idempotent."""
        admin, self._admin = self._admin, None
        # The admin listener stops alongside the rest, not after it: uvicorn notices the request only at its
        # next 0.1 s tick and then waits another 0.1 s for its connections, ~0.15 s that every restart
        # spent in series. Nothing below needs it.
        admin_closed = asyncio.ensure_future(admin.close()) if admin is not None else None
        try:
            tunnel, self._tunnel = self._tunnel, None
            if tunnel is not None:
                await tunnel.drain()
            manager = self._manager
            if manager is not None:
                await manager.aclose()
            http, self._http = self._http, None
            if http is not None:
                await http.aclose()
        finally:
            if admin_closed is not None:
                await admin_closed
