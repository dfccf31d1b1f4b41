"""Bounds on what a request may make the edge hold: URL (414), headers (431) and body (413).

The body is counted as it streams in, so a missing or lying ``Content-Length`` does not help: the
moment the count passes the limit, reading stops with 413.
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.hygiene.context import context_of, header
from edge.policy import LimitsPolicy
from edge.problems import HeadersTooLarge, UriTooLong
from edge.tunnel.errors import PayloadTooLarge

MAX_HEADER_COUNT = 64


class SizeLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: an event socket (open for hours) is not held under a frame of this middleware,
        # and no frame of it keeps the header list either. A refusal raises at the call.
        if scope["type"] not in ("http", "websocket"):
            return self.app(scope, receive, send)
        limits = context_of(scope).snapshot.policy.limits
        _check_target_and_headers(scope, limits)
        if scope["type"] == "websocket":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send, limits)

    async def _http(self, scope: Scope, receive: Receive, send: Send, limits: LimitsPolicy) -> None:
        max_body_bytes = limits.max_body_bytes
        too_large = PayloadTooLarge("body_too_large", f"The request body exceeds {max_body_bytes} bytes.")
        declared = header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_body_bytes):
            raise too_large
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body_bytes:
                    raise too_large
            return message

        await self.app(scope, counting_receive, send)


def _check_target_and_headers(scope: Scope, limits: LimitsPolicy) -> None:
    # A function of its own: an event socket's frame lives for hours, and a local holding the header list
    # in it would keep every header (the bearer token among them) alive as long.
    target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
    if target > limits.max_url_bytes:
        raise UriTooLong("uri_too_long", f"The request target exceeds {limits.max_url_bytes} bytes.")
    headers = scope.get("headers", ())
    header_bytes = sum(len(name) + len(value) for name, value in headers)
    if header_bytes > limits.max_header_bytes or len(headers) > MAX_HEADER_COUNT:
        raise HeadersTooLarge(
            "headers_too_large", f"The request headers exceed {limits.max_header_bytes} bytes."
        )
