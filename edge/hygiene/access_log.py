"""One structured log line and the request metrics for every request and event socket, plus the audit
line for every sign-in, sign-out, state change and call action — whatever its outcome, refusals by
validation, rate limit or authentication included.

The lines name the route template, status, duration, request id, client IP and agent id. They never
carry headers, the query string (it may hold a ticket) or a body; the path is cut short.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.hygiene.context import context_of
from edge.metrics import EdgeMetrics

_MAX_LOGGED_PATH = 160


class AccessLogMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: EdgeMetrics, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.clock = clock
        self._log = structlog.get_logger("fingress.edge.access")
        self._audit = structlog.get_logger("fingress.edge.audit")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = self.clock()
        outcome = _Outcome(send)
        try:
            await self.app(scope, receive, outcome.send)
        finally:
            self._record(scope, outcome.status or 500, outcome.close_code, self.clock() - started)

    def _record(self, scope: Scope, status: int, close_code: int | None, duration_s: float) -> None:
        context = context_of(scope)
        method = scope.get("method", "GET")
        route = context.route_label
        if scope["type"] == "http":
            label = str(status)
            self.metrics.latency.labels(route=route, method=method).observe(duration_s)
        else:
            # A socket's outcome is its close code (a bounded set, edge.events.close_codes).
            label = f"ws_{close_code}" if close_code is not None else "ws_client_closed"
        self.metrics.requests.labels(route=route, method=method, status=label).inc()
        self._log.info(
            "request_handled" if scope["type"] == "http" else "event_socket_closed",
            method=method,
            route=route,
            path=scope["path"][:_MAX_LOGGED_PATH],
            status=status,
            close_code=close_code,
            duration_ms=round(duration_s * 1000, 2),
            request_id=context.request_id,
            client_ip=context.client_ip,
            agent_id=context.principal.agent_id if context.principal else None,
            auth_failure=context.auth_failure,
        )
        action = context.match.route.audit_action if context.match is not None else None
        if action is not None:
            self._audit.info(
                "audit",
                action=action,
                dialog_action=context.audit_detail,
                dialog_id=context.match.params.get("dialog_id") if context.match is not None else None,
                agent_id=context.principal.agent_id if context.principal else None,
                outcome_status=status,
                request_id=context.request_id,
            )


class _Outcome:
    """The status (101 for an accepted socket) and close code a response or socket ended with, seen
    through its send. An object with slots rather than a closure over cells: an event socket holds it for
    hours."""

    __slots__ = ("_send", "close_code", "status")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 0
        self.close_code: int | None = None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = int(message["status"])
        elif kind == "websocket.accept":
            self.status = 101
        elif kind == "websocket.close":
            self.close_code = int(message.get("code", 1000))
            self.status = self.status or 403
        await self._send(message)
