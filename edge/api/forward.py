"""The handler of every forwarded route: validate, build the tunnel request with the verified principal,
relay the connector's answer, and write the audit line for actions."""

from __future__ import annotations

import asyncio

import structlog
from starlette.requests import Request
from starlette.responses import Response

from edge.api.models import DialogAction
from edge.api.validation import validated_body, validated_query
from edge.hygiene.context import context_of
from edge.tunnel.errors import ApiError, UpstreamError, UpstreamTimeout
from edge.tunnel.messages import TunnelRequest
from edge.upstream import Upstream

# Only these headers of the connector's answer reach the client.
_RELAYED_HEADERS = frozenset({"content-type", "retry-after"})
_BACKSTOP_GRACE_S = 1.0


class Forwarder:
    """A Starlette endpoint that forwards the matched route through ``upstream``."""

    def __init__(self, *, upstream: Upstream) -> None:
        self._upstream = upstream
        self._audit = structlog.get_logger("fingress.edge.audit")

    async def handle(self, request: Request) -> Response:
        context = context_of(request.scope)
        assert context.match is not None
        assert context.principal is not None
        route = context.match.route
        query = validated_query(route, request.scope.get("query_string", b""))
        model, body = validated_body(route, await request.body(), request.headers.get("content-type"))
        tunnel_request = TunnelRequest(
            request_id=context.request_id,
            method=route.method,
            path=request.scope["path"],
            query=query,
            headers={"content-type": "application/json"} if body else {},
            body=body,
            principal=context.principal,
        )
        status = 0
        try:
            timeout_s = context.snapshot.policy.limits.request_timeout_s
            # The upstream enforces timeout_s itself; this backstop only guards against one that does not.
            try:
                async with asyncio.timeout(timeout_s + _BACKSTOP_GRACE_S):
                    answer = await self._upstream.request(tunnel_request, timeout_s=timeout_s)
            except TimeoutError:
                raise UpstreamTimeout("upstream_timeout", "The connector did not answer in time.") from None
            if not 200 <= answer.status <= 599:
                raise UpstreamError("bad_upstream_status", "The connector gave an invalid answer.")
            status = answer.status
        except ApiError as error:
            status = error.status
            raise
        finally:
            if route.audit_action is not None:
                self._audit.info(
                    "audit",
                    action=route.audit_action,
                    dialog_action=model.action.value if isinstance(model, DialogAction) else None,
                    dialog_id=context.match.params.get("dialog_id"),
                    agent_id=context.principal.agent_id,
                    outcome_status=status or 500,
                    request_id=context.request_id,
                )
        headers = {
            name.lower(): value
            for name, value in answer.headers.items()
            if name.lower() in _RELAYED_HEADERS and "\r" not in value and "\n" not in value
        }
        headers.setdefault("content-type", "application/json")
        return Response(answer.body, status_code=answer.status, headers=headers)
