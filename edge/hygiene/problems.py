"""Turns every error raised inside the app into an answer the client can act on.

HTTP: an ``ApiError`` becomes its problem+json; anything else is logged and becomes a generic 500
without details. WebSocket: the socket is accepted (if it was not) and closed with the matching close
code, because a browser cannot read an HTTP status from a refused handshake.
"""

from __future__ import annotations

from collections.abc import Awaitable

import structlog
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.events.close_codes import CloseCode, close_code_for
from edge.hygiene.context import context_of
from edge.problems import InternalError, send_problem
from edge.tunnel.errors import ApiError


class ProblemMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._log = structlog.get_logger("fingress.edge")

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: only the branch taken stays suspended for a socket's life, not a dispatcher.
        if scope["type"] == "http":
            return self._http(scope, receive, send)
        if scope["type"] == "websocket":
            return self._websocket(scope, receive, send)
        return self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ApiError as error:
            if started:
                return  # the client already has a status; nothing more can be said
            await send_problem(send, error)
        except ClientDisconnect:
            return  # the client left mid-request: nobody to answer
        except Exception:
            self._log.exception("request_failed", request_id=context_of(scope).request_id)
            if not started:
                await send_problem(send, InternalError())

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        progress = _SocketProgress(receive, send)
        try:
            await self.app(scope, progress.receive, progress.send)
        except ApiError as error:
            await self._close(receive, send, close_code_for(error), progress)
        except Exception:
            self._log.exception("event_socket_failed", request_id=context_of(scope).request_id)
            await self._close(receive, send, CloseCode.INTERNAL_ERROR, progress)

    @staticmethod
    async def _close(receive: Receive, send: Send, code: CloseCode, progress: _SocketProgress) -> None:
        if progress.closed:
            return
        try:
            if not progress.connected:
                await receive()  # the websocket.connect every ASGI socket starts with
            if not progress.accepted:
                await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": int(code), "reason": code.reason})
        except OSError:
            return  # the client is gone already


class _SocketProgress:
    """How far the app has taken a socket, seen through its receive and send. An object with slots
    rather than closures over cells: an event socket holds it for hours."""

    __slots__ = ("_receive", "_send", "accepted", "closed", "connected")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.connected = self.accepted = self.closed = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "websocket.connect":
            self.connected = True
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "websocket.accept":
            self.accepted = True
        elif message["type"] == "websocket.close":
            self.closed = True
        await self._send(message)
