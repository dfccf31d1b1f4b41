"""Authenticates every route that needs it and puts the verified principal in the request context.

HTTP routes take ``Authorization: Bearer <jwt>``. The event socket also takes ``?ticket=`` from
``POST /api/v1/events/ticket``; given both, they must name the same agent. The agent id therefore only
ever comes from a verified token (directly, or through the ticket it paid for).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.types import Scope

from edge.auth.failures import AuthFailure, InvalidToken
from edge.events.tickets import TicketStore
from edge.hygiene.context import context_of, header
from edge.metrics import EdgeMetrics
from edge.tunnel.errors import BadRequest
from edge.tunnel.messages import Principal


class Authentication:
    """An admission check (:mod:`edge.hygiene.admission`): 401 unless a route that needs it carries a
    valid token (or ticket); the principal goes into the request context."""

    def __init__(self, *, tickets: TicketStore, metrics: EdgeMetrics) -> None:
        self.tickets = tickets
        self.metrics = metrics

    async def admit(self, scope: Scope) -> None:
        context = context_of(scope)
        if context.match is not None and context.match.route.authenticated:
            try:
                context.principal = await self._authenticate(scope)
            except InvalidToken as error:
                self.metrics.auth_failures.labels(reason=error.reason.value).inc()
                context.auth_failure = error.reason.value
                raise

    async def _authenticate(self, scope: Scope) -> Principal:
        verifier = context_of(scope).snapshot.verifier
        token = _bearer(header(scope, b"authorization"))
        ticket = _ticket(scope) if scope["type"] == "websocket" else None
        if ticket is None:
            return await verifier.verify(token or "")
        from_ticket = self.tickets.redeem(ticket)
        if from_ticket is None:
            raise InvalidToken(AuthFailure.BAD_TICKET)
        if token is not None:
            from_token = await verifier.verify(token)
            if from_token.agent_id != from_ticket.agent_id:
                raise InvalidToken(AuthFailure.BAD_TICKET)
        return from_ticket


def _bearer(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def _ticket(scope: Scope) -> str | None:
    try:
        query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"), max_num_fields=8)
    except ValueError:
        raise BadRequest("bad_query", "Too many query parameters.") from None
    values = query.get("ticket")
    return values[0] if values else None
