"""The edge's composition root: builds the public and admin apps from configuration and serves them with
uvicorn, programmatically, on sockets bound up front (so port 0 works and the ports are known at once).

::

    server = EdgeServer(config=config, upstream=relay, ssl_context_factory=tls.context_factory)
    await server.start()          # raises ConfigError when the policy is invalid
    ...  server.public_port, server.admin_port, await server.policy.reload()
    await server.stop()           # graceful: open requests finish, sockets close with 1001/1012

Signals are the caller's business (the CLI maps SIGHUP to ``policy.reload()`` and SIGTERM to ``stop()``):
the uvicorn servers here install no signal handlers of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable, Generator
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from edge.admin import build_admin_app
from edge.app import build_public_app
from edge.config import EdgeConfig
from edge.events.protocol import EventSocketProtocol
from edge.events.tickets import TicketStore
from edge.http_protocol import UpgradeReleasingHttpProtocol
from edge.malloc_tuning import fix_mmap_threshold
from edge.metrics import EdgeMetrics
from edge.policy_runtime import PolicyParticipant, PolicyRuntime
from edge.upstream import Upstream


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # Two servers share this process; the composition root owns signal handling.
        yield


class EdgeServer:
    def __init__(
        self,
        *,
        config: EdgeConfig,
        upstream: Upstream,
        ssl_context_factory: Callable[[], ssl.SSLContext],
        participants: tuple[PolicyParticipant, ...] = (),
        metrics: EdgeMetrics | None = None,
        tune_malloc: Callable[[], object] = fix_mmap_threshold,
    ) -> None:
        """``tune_malloc`` runs once in :meth:`start`, before any connection: by default it fixes glibc's
        mmap threshold (:mod:`edge.malloc_tuning`), process-wide, for memory per open socket."""
        self.config = config
        self.upstream = upstream
        self.metrics = metrics or EdgeMetrics()
        self.policy = PolicyRuntime(path=config.policy_file, metrics=self.metrics, participants=participants)
        self._ssl_context_factory = ssl_context_factory
        self._tune_malloc = tune_malloc
        self._servers: list[uvicorn.Server] = []
        self._sockets: list[socket.socket] = []
        self._tasks: list[asyncio.Task[None]] = []
        # The relay reports its connector connections; a plain Upstream need not.
        count = getattr(upstream, "connection_count", None)
        if callable(count):
            self.metrics.track_tunnel_connections(lambda: float(count()))

    async def start(self) -> None:
        """Load the policy, bind both listeners and start serving. Raises ``ConfigError``, ``OSError``."""
        self._tune_malloc()
        await self.policy.start()
        public_app = build_public_app(
            runtime=self.policy,
            upstream=self.upstream,
            metrics=self.metrics,
            tickets=TicketStore(max_tickets=self.config.server.max_tickets),
        )
        admin_app = build_admin_app(runtime=self.policy, upstream=self.upstream, metrics=self.metrics)
        limits = self.config.server
        public = _uvicorn_config(
            public_app,
            ssl_context_factory=lambda _config, _default: self._ssl_context_factory(),
            http_protocol=UpgradeReleasingHttpProtocol,
            ws_protocol=EventSocketProtocol,
            ws_max_size=limits.ws_max_message_bytes,
            timeout_graceful_shutdown_s=limits.graceful_shutdown_s,
        )
        admin = _uvicorn_config(admin_app, timeout_graceful_shutdown_s=limits.graceful_shutdown_s)
        try:
            for uv_config, listener in ((public, self.config.public), (admin, self.config.admin)):
                sock = _bind(listener.host, listener.port)
                self._sockets.append(sock)
                server = _EmbeddedServer(uv_config)
                self._servers.append(server)
                self._tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
            self._tasks.append(asyncio.create_task(self.policy.watch(poll_s=self.config.policy_poll_s)))
        except BaseException:
            await self.stop()
            raise

    @property
    def public_port(self) -> int:
        return int(self._sockets[0].getsockname()[1])

    @property
    def admin_port(self) -> int:
        return int(self._sockets[1].getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting, let open requests finish (up to ``graceful_shutdown_s``), release everything."""
        for server in self._servers:
            server.should_exit = True
        for task in self._tasks[len(self._servers) :]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sock in self._sockets:
            sock.close()
        self._servers.clear()
        self._tasks.clear()
        await self.policy.aclose()

    async def __aenter__(self) -> EdgeServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def _uvicorn_config(
    app: ASGIApp,
    *,
    timeout_graceful_shutdown_s: float,
    ssl_context_factory: Callable[[uvicorn.Config, Callable[[], ssl.SSLContext]], ssl.SSLContext]
    | None = None,
    http_protocol: type[asyncio.Protocol] | str = "auto",
    ws_protocol: type[asyncio.Protocol] | str = "auto",
    ws_max_size: int = 64 * 1024,
) -> uvicorn.Config:
    # uvicorn must not configure logging (structlog is ours), log access (we do, with redaction), believe
    # proxy headers (edge.client_ip does, for configured proxies only), run lifespan, or name itself.
    return uvicorn.Config(
        app,
        # Said, not guessed: the public app's outer middlewares are plain callables returning awaitables
        # (so a long-lived socket is not held under their frames), which uvicorn would take for ASGI 2.
        interface="asgi3",
        ssl_context_factory=ssl_context_factory,
        http=http_protocol,
        ws=ws_protocol,
        ws_max_size=ws_max_size,
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=max(1, round(timeout_graceful_shutdown_s)),
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        lifespan="off",
    )


_BACKLOG = 2048


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the listening
    # socket says proto=6; with the default 0, Nagle + delayed ACK add ~40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening now (not when uvicorn starts) lets clients connect the moment start() returns:
        # early connections wait in the backlog instead of being refused.
        sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock
