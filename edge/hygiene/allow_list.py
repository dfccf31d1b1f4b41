"""Only allow-listed methods and paths go further; everything else is 404 before any work is done.

The policy's allow list is a subset of the route table; the match (route and path parameters) is kept
in the request context for every later stage.
"""

from __future__ import annotations

from starlette.types import Scope

from edge.hygiene.context import context_of
from edge.tunnel.errors import NotFound


class AllowList:
    """An admission check (:mod:`edge.hygiene.admission`): 404 unless the policy allows the route."""

    async def admit(self, scope: Scope) -> None:
        context = context_of(scope)
        method = scope["method"] if scope["type"] == "http" else "GET"
        match = context.snapshot.routes.match(method, scope["path"])
        is_socket_route = match is not None and match.route.path == "/api/v1/events"
        if match is None or is_socket_route != (scope["type"] == "websocket"):
            raise NotFound("not_found", "No such resource.")
        context.match = match
