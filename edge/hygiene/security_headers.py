"""Security headers on every HTTP response: HSTS, no sniffing, no referrer, no framing, and a CSP that
allows nothing, since the API serves JSON only."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.hygiene.context import context_of

_FIXED = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: what it passes through (an event socket, for hours) is not held under a frame
        # of this middleware.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        max_age = context_of(scope).snapshot.policy.http.hsts_max_age_s

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                additions = [*_FIXED, (b"strict-transport-security", f"max-age={max_age}".encode())]
                if b"cache-control" not in present:
                    additions.append((b"cache-control", b"no-store"))
                headers.extend(item for item in additions if item[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
