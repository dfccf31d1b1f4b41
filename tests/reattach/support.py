"""What the reattach tests share: connectors built and stopped one after another on one emulator, a
record of the requests Finesse received, and a link factory that changes Finesse just before a link opens."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from connector.finesse.credentials import Credentials
from connector.sessions.links import LinkFactory, NotificationHandler, NotificationLink, SideName
from fingress.emulator.server import EmulatorServer
from tests.connector.conftest import Harness, make_harness


@dataclass(frozen=True, slots=True)
class FinesseRequest:
    method: str
    path: str
    signs_in: bool  # a User PUT asking for LOGIN


class FinesseRequests:
    """The requests sent to Finesse, in order (an httpx request hook on the connector's HTTP client)."""

    def __init__(self) -> None:
        self.sent: list[FinesseRequest] = []

    async def record(self, request: httpx.Request) -> None:
        signs_in = request.method == "PUT" and b"<state>LOGIN</state>" in request.content
        self.sent.append(FinesseRequest(request.method, request.url.path, signs_in))

    def mark(self) -> int:
        """A position in the record; :meth:`since` lists what was sent after it."""
        return len(self.sent)

    def since(self, mark: int) -> list[FinesseRequest]:
        return self.sent[mark:]

    def sign_ins(self, mark: int = 0) -> int:
        return sum(1 for request in self.since(mark) if request.signs_in)

    def dialog_reads(self, mark: int = 0) -> int:
        return sum(
            1 for request in self.since(mark) if request.method == "GET" and request.path.endswith("/Dialogs")
        )


@asynccontextmanager
async def connector(
    emulator: EmulatorServer,
    http: httpx.AsyncClient,
    client_ssl_context: ssl.SSLContext,
    **options: Any,
) -> AsyncIterator[Harness]:
    """One connector's session layer on ``emulator``; leaving stops it as a connector process stopping
    does (every XMPP link closes, nobody is signed out). Two in a row are a restarted connector."""
    built = make_harness(emulator, http, client_ssl_context, **options)
    harness = await anext(built)
    try:
        yield harness
    finally:
        # Resumed past its yield, it stops the manager and closes its control client.
        async for _ in built:
            pass


@dataclass(frozen=True, slots=True)
class Connectors:
    """:func:`connector` bound to one emulator, HTTP client and trust: ``async with connectors() as c``;
    leaving one and entering the next is a restarted connector."""

    emulator: EmulatorServer
    http: httpx.AsyncClient
    ssl_context: ssl.SSLContext

    def __call__(self, **options: Any) -> AbstractAsyncContextManager[Harness]:
        return connector(self.emulator, self.http, self.ssl_context, **options)


class ChangingLinks:
    """A :class:`~connector.sessions.links.LinkFactory` (a seam we own) that runs ``change`` once, right
    before the first link opens: Finesse changes while the session has read the User but cannot yet
    hear about it (no notification reaches an agent without a link)."""

    def __init__(self, links: LinkFactory, change: Callable[[], None]) -> None:
        self._links = links
        self._change: Callable[[], None] | None = change

    async def open(
        self, *, side: SideName, credentials: Credentials, handler: NotificationHandler
    ) -> NotificationLink:
        change, self._change = self._change, None
        if change is not None:
            change()
        return await self._links.open(side=side, credentials=credentials, handler=handler)
