"""The handler of every forwarded route: validate, build the tunnel request with the verified principal,
and relay the connector's answer. (The audit line is written by the access log, which sees every outcome,
including refusals before this handler.)"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from edge.api.models import DialogAction
from edge.api.validation import validated_body, validated_query
from edge.hygiene.context import context_of
from edge.tunnel.errors import UpstreamError, UpstreamTimeout
from edge.tunnel.messages import TunnelRequest
from edge.upstream import Upstream

# Only these headers of the connector's answer reach the client.
_RELAYED_HEADERS = frozenset({"content-type", "retry-after"})
_BACKSTOP_GRACE_S = 1.0


class Forwarder:
    """A Starlette endpoint that forwards the matched route through ``upstream``."""

    def __init__(self, *, upstream: Upstream) -> None:
        self._upstream = upstream

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
        if isinstance(model, DialogAction):
            context.audit_detail = model.action.value
        timeout_s = context.snapshot.policy.limits.request_timeout_s
        # The upstream enforces timeout_s itself; this backstop only guards against one that does not.
        try:
            async with asyncio.timeout(timeout_s + _BACKSTOP_GRACE_S):
                answer = await self._upstream.request(tunnel_request, timeout_s=timeout_s)
        except TimeoutError:
            raise UpstreamTimeout("upstream_timeout", "The connector did not answer in time.") from None
        if not 200 <= answer.status <= 599:
            raise UpstreamError("bad_upstream_status", "The connector gave an invalid answer.")
        headers = {
            name.lower(): value
            for name, value in answer.headers.items()
            if name.lower() in _RELAYED_HEADERS and "\r" not in value and "\n" not in value
        }
        headers.setdefault("content-type", "application/json")
        return Response(answer.body, status_code=answer.status, headers=headers)
