"""Only allow-listed methods and paths go further; everything else is 404 before any work is done.

The policy's allow list is a subset of the route table; the match (route and path parameters) is kept
in the request context for every later stage.
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Receive, Scope, Send

from edge.hygiene.context import context_of
from edge.tunnel.errors import NotFound


class AllowListMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: the check needs no await, and what it lets through (an event socket, for
        # hours) is not held under a frame of this middleware. A refusal raises at the call.
        if scope["type"] not in ("http", "websocket"):
            return self.app(scope, receive, send)
        context = context_of(scope)
        method = scope["method"] if scope["type"] == "http" else "GET"
        match = context.snapshot.routes.match(method, scope["path"])
        is_socket_route = match is not None and match.route.path == "/api/v1/events"
        if match is None or is_socket_route != (scope["type"] == "websocket"):
            raise NotFound("not_found", "No such resource.")
        context.match = match
        return self.app(scope, receive, send)
