"""Rate limiting in two places: per client IP before authentication (so token checks cannot be used to
burn CPU), and per agent plus the stricter sign-in limit after it."""

from __future__ import annotations

from starlette.types import Scope

from edge.hygiene.context import context_of
from edge.ratelimit import Limit


class IpRateLimit:
    """An admission check (:mod:`edge.hygiene.admission`): the per-IP limit."""

    async def admit(self, scope: Scope) -> None:
        context = context_of(scope)
        await context.snapshot.limiter.check(Limit.PER_IP, context.client_ip)


class AgentRateLimit:
    """An admission check (:mod:`edge.hygiene.admission`): the per-agent limit, and the sign-in limit on
    the sign-in route, for authenticated requests."""

    async def admit(self, scope: Scope) -> None:
        context = context_of(scope)
        if context.principal is not None:
            limiter = context.snapshot.limiter
            await limiter.check(Limit.PER_AGENT, context.principal.agent_id)
            if context.match is not None and context.match.route.sign_in:
                await limiter.check(Limit.SIGN_IN, context.principal.agent_id)
