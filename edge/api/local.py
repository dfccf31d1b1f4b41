"""The routes the edge answers itself: event-socket tickets and the OpenAPI document."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.api.models import EventsTicket
from edge.events.tickets import TicketStore
from edge.hygiene.context import context_of
from edge.tunnel.errors import BadRequest


class TicketEndpoint:
    """``POST /api/v1/events/ticket``: a one-time ticket bound to the caller's verified principal."""

    def __init__(self, *, tickets: TicketStore) -> None:
        self._tickets = tickets

    async def handle(self, request: Request) -> Response:
        context = context_of(request.scope)
        assert context.principal is not None
        if await request.body() or request.scope.get("query_string"):
            raise BadRequest("unexpected_body", "This request takes no body or query.")
        events = context.snapshot.policy.events
        ttl_s = events.ticket_ttl_s
        ticket = self._tickets.issue(context.principal, ttl_s=ttl_s, max_tickets=events.max_tickets)
        answer = EventsTicket(ticket=ticket, expires_in_s=int(ttl_s))
        return JSONResponse(answer.model_dump(), status_code=201)


class OpenApiEndpoint:
    """``GET /api/v1/openapi.json``: the document, encoded once."""

    def __init__(self, *, document: dict[str, object]) -> None:
        self._body = json.dumps(document).encode()

    async def handle(self, request: Request) -> Response:
        return Response(self._body, media_type="application/json", headers={"cache-control": "max-age=300"})
