"""The connector's admin listener: ``/healthz``, ``/readyz`` and ``/metrics`` (loopback by default).

``/healthz`` says the process serves; ``/readyz`` says Finesse is reachable: the side new sessions start on
answers SystemInfo ``IN_SERVICE`` (the answer is cached for ``ready_cache_s`` so probes cannot load
Finesse); ``/metrics`` is the Prometheus text of this connector's own registry.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import structlog
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector.finesse.client import FinesseClient
from connector.ops.metrics import ConnectorMetrics
from connector.sessions.context import SideTracker
from connector.sessions.links import SideName
from edge.tunnel.errors import ApiError

_log = structlog.get_logger(__name__)


class Readiness:
    """Whether Finesse is reachable, asked of the active side at most once per ``cache_s``."""

    def __init__(
        self,
        *,
        finesse: dict[SideName, FinesseClient],
        sides: SideTracker,
        cache_s: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._finesse = finesse
        self._sides = sides
        self._cache_s = cache_s
        self._monotonic = monotonic
        self._checked_at_s: float | None = None
        self._last: dict[str, object] = {}

    async def check(self) -> dict[str, object]:
        now_s = self._monotonic()
        if self._checked_at_s is not None and now_s - self._checked_at_s < self._cache_s:
            return self._last
        side = self._sides.active
        result: dict[str, object] = {"side": side}
        try:
            info = await self._finesse[side].get_system_info()
        except ApiError as error:
            result.update(ready=False, reason=error.code)
        else:
            result.update(ready=info.in_service, finesse_status=info.status)
        self._checked_at_s = now_s
        self._last = result
        return result


def build_admin_app(*, metrics: ConnectorMetrics, readiness: Readiness) -> Starlette:
    """The admin ASGI app; serve it on the admin listener only, never on a public one."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        result = await readiness.check()
        return JSONResponse(result, status_code=200 if result.get("ready") else 503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ]
    )


class AdminServer:
    """uvicorn serving the admin app on a socket bound here (so port 0 is known before serving)."""

    def __init__(self, *, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the listening
        # socket's proto says TCP; with proto 0, responses written in two parts stall ~40 ms (Nagle and
        # delayed ACK).
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
            self._socket.listen(64)
        except OSError:
            self._socket.close()
            raise
        config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, log_level="warning")
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        port: int = self._socket.getsockname()[1]
        return port

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        _log.info("admin_listening", port=self.port)

    async def close(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._socket.close()
