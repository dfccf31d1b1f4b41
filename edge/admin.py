"""The admin app, for a loopback listener only (never mounted on the public one): health, readiness,
Prometheus metrics, policy status and reload."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edge.metrics import EdgeMetrics
from edge.policy_runtime import PolicyRuntime
from edge.upstream import Upstream

_PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def build_admin_app(*, runtime: PolicyRuntime, upstream: Upstream, metrics: EdgeMetrics) -> Starlette:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready = upstream.ready
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=_PROMETHEUS_TEXT)

    async def reload(request: Request) -> Response:
        outcome = await runtime.reload(trigger="admin")
        body = {"applied": outcome.applied, "error": outcome.error, "status": runtime.status()}
        return JSONResponse(body, status_code=200 if outcome.applied else 422)

    async def policy_status(request: Request) -> Response:
        return JSONResponse(runtime.status())

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/reload", reload, methods=["POST"]),
            Route("/policy/status", policy_status, methods=["GET"]),
        ]
    )
