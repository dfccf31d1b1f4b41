"""Checks that only admit or refuse, run in order by one middleware.

A check looks at the request (its scope and the request context), raises an ``ApiError`` to refuse, or
returns to let it through; it may record what it learnt in the context (the route match, the principal).
Run one after another by :class:`AdmissionMiddleware`, they cost one coroutine frame between them rather
than one each, and an event socket (open for hours) is held under that one frame only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send


class Check(Protocol):
    async def admit(self, scope: Scope) -> None:
        """Return to admit an HTTP request or WebSocket handshake; raise an ``ApiError`` to refuse."""


class AdmissionMiddleware:
    """Runs ``checks`` in order for every HTTP request and WebSocket; the first refusal ends it."""

    def __init__(self, app: ASGIApp, *, checks: Sequence[Check]) -> None:
        self.app = app
        self.checks = tuple(checks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            for check in self.checks:
                await check.admit(scope)
        await self.app(scope, receive, send)
