"""CORS for the policy's configured origins only; no wildcard, no credentials (tokens travel in the
``Authorization`` header, never in cookies). A preflight from any other origin is refused with 403."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.hygiene.context import context_of, header
from edge.problems import send_problem
from edge.tunnel.errors import Forbidden

_ALLOW_METHODS = b"GET, POST, PUT, DELETE"
_ALLOW_HEADERS = b"authorization, content-type, x-request-id"
_EXPOSE_HEADERS = b"x-request-id, retry-after, www-authenticate"
_MAX_AGE_S = b"600"


class CorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: what it passes through (an event socket, for hours) is not held under a frame
        # of this middleware.
        origin = header(scope, b"origin") if scope["type"] == "http" else None
        if origin is None:
            return self.app(scope, receive, send)
        return self._with_origin(scope, receive, send, origin)

    async def _with_origin(self, scope: Scope, receive: Receive, send: Send, origin: str) -> None:
        allowed = origin in context_of(scope).snapshot.cors_origins
        preflight = scope["method"] == "OPTIONS" and header(scope, b"access-control-request-method")
        if preflight:
            await self._preflight(send, origin, allowed=allowed)
            return
        if not allowed:
            # The browser enforces CORS on the response; without our headers it hides it from the page.
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    *message.get("headers", ()),
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-expose-headers", _EXPOSE_HEADERS),
                    (b"vary", b"Origin"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(send: Send, origin: str, *, allowed: bool) -> None:
        if not allowed:
            await send_problem(send, Forbidden("cors_origin_denied", "This origin may not call the API."))
            return
        headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", _ALLOW_METHODS),
            (b"access-control-allow-headers", _ALLOW_HEADERS),
            (b"access-control-max-age", _MAX_AGE_S),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
