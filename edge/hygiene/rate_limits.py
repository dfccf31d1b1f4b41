"""Rate limiting in two places: per client IP before authentication (so token checks cannot be used to
burn CPU), and per agent plus the stricter sign-in limit after it."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from edge.hygiene.context import context_of
from edge.ratelimit import Limit


class IpRateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            context = context_of(scope)
            await context.snapshot.limiter.check(Limit.PER_IP, context.client_ip)
        await self.app(scope, receive, send)


class AgentRateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            context = context_of(scope)
            if context.principal is not None:
                limiter = context.snapshot.limiter
                await limiter.check(Limit.PER_AGENT, context.principal.agent_id)
                if context.match is not None and context.match.route.sign_in:
                    await limiter.check(Limit.SIGN_IN, context.principal.agent_id)
        await self.app(scope, receive, send)
