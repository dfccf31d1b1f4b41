"""Per-request state the middlewares share, kept in the ASGI scope under one key."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.api.routes import RouteMatch
from edge.client_ip import client_ip
from edge.policy_runtime import PolicyRuntime, PolicySnapshot
from edge.tunnel.messages import Principal

SCOPE_KEY = "fingress.edge"
# A caller-supplied request id is kept only when it is short and harmless in a log line.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


@dataclass(slots=True)
class EdgeContext:
    snapshot: PolicySnapshot
    request_id: str
    client_ip: str
    match: RouteMatch | None = None
    principal: Principal | None = field(default=None, repr=False)
    # Why authentication failed (an AuthFailure label), for the access log line.
    auth_failure: str | None = None
    # What the audit line adds to the route's action, e.g. the dialog action ("HOLD").
    audit_detail: str | None = None

    @property
    def route_label(self) -> str:
        """The route template for metrics and logs; never the raw path (unbounded cardinality)."""
        return self.match.route.path if self.match is not None else "unmatched"


def context_of(scope: Scope) -> EdgeContext:
    context = scope.get(SCOPE_KEY)
    if not isinstance(context, EdgeContext):
        raise RuntimeError("ContextMiddleware is not installed")
    return context


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), decoded as latin-1."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class ContextMiddleware:
    """Pins the current policy snapshot for the whole request, sets the client IP, and sets the request id
    (the caller's ``X-Request-Id`` when it is harmless, else a new one), echoed on the response."""

    def __init__(self, app: ASGIApp, *, runtime: PolicyRuntime) -> None:
        self.app = app
        self.runtime = runtime

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine, so an event socket (open for hours) is not held under a frame of this
        # middleware. Being the outermost app, it must be served as ASGI 3 explicitly
        # (``uvicorn.Config(interface="asgi3")``): uvicorn's guess takes a plain ``__call__`` for ASGI 2.
        if scope["type"] not in ("http", "websocket"):
            return self.app(scope, receive, send)
        snapshot = self.runtime.current
        offered = header(scope, b"x-request-id")
        request_id = offered if offered and _REQUEST_ID.fullmatch(offered) else secrets.token_hex(12)
        peer = scope.get("client")
        forwarded = [
            bytes(value).decode("latin-1")
            for key, value in scope.get("headers", ())
            if key == b"x-forwarded-for"
        ]
        scope[SCOPE_KEY] = EdgeContext(
            snapshot=snapshot,
            request_id=request_id,
            client_ip=client_ip(peer[0] if peer else None, forwarded, snapshot.trusted_proxies),
        )

        if scope["type"] == "websocket":
            # No response headers to add; unwrapped, a socket's every frame skips a call.
            return self.app(scope, receive, send)
        return self._http(scope, receive, send, request_id)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_request_id)
