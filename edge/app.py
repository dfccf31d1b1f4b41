"""Builds the public ASGI app: the middleware chain of :mod:`edge.hygiene` around a router generated from
the route table. The admin surface is a separate app (:mod:`edge.admin`) and is never mounted here."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from edge.api.forward import Forwarder
from edge.api.local import OpenApiEndpoint, TicketEndpoint
from edge.api.openapi import build_openapi
from edge.api.routes import ROUTES, Handling
from edge.events.socket import EventSocketEndpoint
from edge.events.sockets import SocketCounter
from edge.events.tickets import TicketStore
from edge.hygiene.access_log import AccessLogMiddleware
from edge.hygiene.admission import AdmissionMiddleware
from edge.hygiene.allow_list import AllowList
from edge.hygiene.auth import Authentication
from edge.hygiene.context import ContextMiddleware
from edge.hygiene.cors import CorsMiddleware
from edge.hygiene.problems import ProblemMiddleware
from edge.hygiene.rate_limits import AgentRateLimit, IpRateLimit
from edge.hygiene.security_headers import SecurityHeadersMiddleware
from edge.hygiene.size_limits import SizeLimitMiddleware
from edge.metrics import EdgeMetrics
from edge.policy_runtime import PolicyRuntime
from edge.upstream import Upstream

API_VERSION = "1.0.0"


def build_public_app(
    *,
    runtime: PolicyRuntime,
    upstream: Upstream,
    metrics: EdgeMetrics,
    tickets: TicketStore,
    sockets: SocketCounter | None = None,
) -> ASGIApp:
    """The public app. ``runtime`` must have started (it supplies the policy snapshot per request)."""
    forwarder = Forwarder(upstream=upstream)
    events = EventSocketEndpoint(upstream=upstream, sockets=sockets or SocketCounter(), metrics=metrics)
    openapi = OpenApiEndpoint(document=build_openapi(ROUTES, version=API_VERSION))
    ticket = TicketEndpoint(tickets=tickets)
    routes: list[BaseRoute] = []
    events_path = ""
    for spec in ROUTES:
        if spec.handling is Handling.EVENTS:
            events_path = spec.path
        elif spec.handling is Handling.OPENAPI:
            routes.append(Route(spec.path, openapi.handle, methods=[spec.method]))
        elif spec.handling is Handling.TICKET:
            routes.append(Route(spec.path, ticket.handle, methods=[spec.method]))
        else:
            routes.append(Route(spec.path, forwarder.handle, methods=[spec.method]))
    app: ASGIApp = _EventSocketOrRouter(router=Router(routes=routes), events=events, events_path=events_path)
    # Starlette wraps bound methods as request handlers (a callable object would be taken for an ASGI
    # app). Innermost first: each line wraps everything above it.
    app = AdmissionMiddleware(
        app,
        checks=(
            # Per-IP limiting comes before the allow list so that scanning for paths costs the scanner too.
            IpRateLimit(),
            AllowList(),
            Authentication(tickets=tickets, metrics=metrics),
            AgentRateLimit(),
        ),
    )
    app = SizeLimitMiddleware(app)
    app = ProblemMiddleware(app)
    app = CorsMiddleware(app)
    app = SecurityHeadersMiddleware(app)
    app = AccessLogMiddleware(app, metrics=metrics)
    return ContextMiddleware(app, runtime=runtime)


class _EventSocketOrRouter:
    """Sends the event socket straight to its endpoint and everything else to the router.

    An event socket stays open for hours, and every frame it is awaited under stays with it: starlette's
    router and ``WebSocketRoute`` would add six (router, route, session and exception wrappers) for no
    work, since the allow list has already matched the route. A plain function returning the callee's
    awaitable adds none."""

    __slots__ = ("_events", "_events_path", "_router")

    def __init__(self, *, router: ASGIApp, events: ASGIApp, events_path: str) -> None:
        self._router = router
        self._events = events
        self._events_path = events_path

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "websocket" and scope["path"] == self._events_path:
            return self._events(scope, receive, send)
        return self._router(scope, receive, send)
