"""The composition root of the emulator: one cluster, one hub, and per side an HTTPS listener (REST,
control API, XMPP over WebSocket at ``/ws/``) and an XMPP direct-TLS listener.

::

    async with EmulatorServer(emulator_config=load_config(), ssl_context=context) as emulator:
        emulator.base_url("A")      # https://127.0.0.1:<port>
        emulator.xmpp_port("B")
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from . import config, errors
from .cluster import Cluster
from .control import ControlApi
from .credentials import Authenticator, BearerVerifier
from .hub import SIDES, Hub, Side
from .rest import FinesseApi, error_response
from .timers import AsyncioScheduler, Scheduler
from .xmpp import DirectTlsServer, XmppServerSettings, websocket_route
from .xmpp.websocket import WEBSOCKET_PROTOCOL

# How long an idle HTTP keep-alive connection stays open: Tomcat's default (Finesse's web server).
TOMCAT_KEEP_ALIVE_S = 20


def xmpp_settings(emulator_config: config.EmulatorConfig) -> XmppServerSettings:
    failure_detection_s = emulator_config.timing.failure_detection_s
    return XmppServerSettings(
        notification_namespace=emulator_config.xmpp.notification_namespace,
        max_queued_notifications=emulator_config.xmpp.max_queued_notifications,
        idle_timeout_s=failure_detection_s if failure_detection_s > 0 else None,
    )


def build_side_app(
    *, side: Side, cluster: Cluster, hub: Hub, authenticator: Authenticator, settings: XmppServerSettings
) -> Starlette:
    """The HTTPS application of one side."""
    behaviour = cluster.config.behaviour
    finesse = FinesseApi(
        side=side,
        cluster=cluster,
        authenticator=authenticator,
        max_body_bytes=behaviour.max_body_bytes,
        unauthorized_html=behaviour.unauthorized_html,
    )
    routes: list[BaseRoute] = [
        *finesse.routes(),
        *ControlApi(cluster=cluster).routes(),
        websocket_route(side=side, hub=hub, cluster=cluster, settings=settings),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(errors.not_found("Resource"))

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return error_response(errors.invalid_input("method", "method not allowed on this resource"))

    async def internal_error(request: Request, exc: Exception) -> Response:
        return error_response(errors.internal_error())

    return Starlette(
        routes=routes,
        exception_handlers={404: not_found, 405: method_not_allowed, 500: internal_error},
    )


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only when it does. Without it a
    # response written in two parts waits for the client's delayed ACK: ~40 ms a request (measured).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(512)
    except OSError:
        sock.close()
        raise
    return sock


class _HttpsListener:
    """uvicorn embedded on a socket we bound ourselves (so port 0 is known before serving)."""

    def __init__(self, *, app: Starlette, ssl_context: ssl.SSLContext, host: str, port: int) -> None:
        self._socket = _listening_socket(host, port)
        uvicorn_config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            ws=WEBSOCKET_PROTOCOL,
            timeout_graceful_shutdown=1,
            # Finesse runs on Tomcat, whose keep-alive timeout defaults to its connection timeout, 20 s
            # (uvicorn's own default is 5 s). A client must retire idle connections sooner than the server
            # closes them, or a request can meet a close on its way (the connector's pool: 15 s).
            timeout_keep_alive=TOMCAT_KEEP_ALIVE_S,
            # Finesse's WebSocket endpoint sends no WebSocket pings of its own: its clients keep the link
            # alive with XEP-0199 pings (every 20 s). uvicorn pings every 20 s by default, which would
            # double the keep-alive traffic a connector sees (100 extra round trips/s at 2,000 agents).
            ws_ping_interval=None,
            ssl_context_factory=lambda _config, _default: ssl_context,
        )
        self._server = uvicorn.Server(uvicorn_config)
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        port: int = self._socket.getsockname()[1]
        return port

    async def start(self) -> None:
        # startup / main_loop / shutdown instead of serve(): serve() installs its own signal handlers,
        # which would fight between two listeners and with the command's own Ctrl-C handling.
        server = self._server
        if not server.config.loaded:
            server.config.load()
        server.lifespan = server.config.lifespan_class(server.config)
        await server.startup(sockets=[self._socket])
        self._task = asyncio.create_task(server.main_loop())

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is None:
            self._socket.close()
            return
        self._server.should_exit = True
        await task
        shutdown = asyncio.create_task(self._server.shutdown(sockets=[self._socket]))
        await asyncio.sleep(0)  # shutdown() has now asked every idle connection to close
        self._abort_closing_connections()
        await shutdown

    def _abort_closing_connections(self) -> None:
        # A TLS close waits for the peer's close_notify, which an idle keep-alive client never sends, so
        # each such client would hold the shutdown for timeout_graceful_shutdown (measured: 1.15 s
        # instead of 0.2 s). Connections already closing have nothing left to deliver: abort them.
        for connection in tuple(self._server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if isinstance(transport, asyncio.Transport) and transport.is_closing():
                transport.abort()


class EmulatorServer:
    """Starts both sides on enter and stops them on exit. Ports default to the configuration's ``listen``
    section; pass 0 to pick free ones (tests)."""

    def __init__(
        self,
        *,
        emulator_config: config.EmulatorConfig,
        ssl_context: ssl.SSLContext,
        host: str | None = None,
        https_ports: Mapping[Side, int] | None = None,
        xmpp_ports: Mapping[Side, int] | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        listen = emulator_config.listen
        self.config = emulator_config
        self._ssl_context = ssl_context
        self.host = host or listen.host
        default_https: dict[Side, int] = {"A": listen.https_port_a, "B": listen.https_port_b}
        default_xmpp: dict[Side, int] = {"A": listen.xmpp_port_a, "B": listen.xmpp_port_b}
        self._https_ports: dict[Side, int] = {**default_https, **(https_ports or {})}
        self._xmpp_ports: dict[Side, int] = {**default_xmpp, **(xmpp_ports or {})}
        self._scheduler = scheduler
        self._own_scheduler: AsyncioScheduler | None = None
        self.hub = Hub()
        self._cluster: Cluster | None = None
        self._https: dict[Side, _HttpsListener] = {}
        self._xmpp: dict[Side, DirectTlsServer] = {}

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            raise RuntimeError("the emulator is not started")
        return self._cluster

    def https_port(self, side: Side) -> int:
        return self._https[side].port

    def xmpp_port(self, side: Side) -> int:
        return self._xmpp[side].port

    def base_url(self, side: Side) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.https_port(side)}"

    async def __aenter__(self) -> Self:
        scheduler: Scheduler
        if self._scheduler is not None:
            scheduler = self._scheduler
        else:
            scheduler = self._own_scheduler = AsyncioScheduler()
        cluster = Cluster(cluster_config=self.config, hub=self.hub, scheduler=scheduler)
        self._cluster = cluster
        authenticator = Authenticator(
            cluster=cluster, bearer=BearerVerifier.from_settings(self.config.bearer)
        )
        settings = xmpp_settings(self.config)
        try:
            for side in SIDES:
                app = build_side_app(
                    side=side, cluster=cluster, hub=self.hub, authenticator=authenticator, settings=settings
                )
                listener = _HttpsListener(
                    app=app, ssl_context=self._ssl_context, host=self.host, port=self._https_ports[side]
                )
                self._https[side] = listener
                await listener.start()
                xmpp = DirectTlsServer(
                    side=side,
                    hub=self.hub,
                    cluster=cluster,
                    ssl_context=self._ssl_context,
                    host=self.host,
                    port=self._xmpp_ports[side],
                    settings=settings,
                )
                await xmpp.start()
                self._xmpp[side] = xmpp
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop every listener and pending timer (idempotent)."""
        if self._own_scheduler is not None:
            self._own_scheduler.close()
        xmpp, self._xmpp = self._xmpp, {}
        https, self._https = self._https, {}
        closing = [server.close() for server in xmpp.values()] + [
            listener.close() for listener in https.values()
        ]
        results = await asyncio.gather(*closing, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
