"""Benchmark (not a test): sign-in and notification delivery through the emulator's XMPP servers.

    .venv/bin/python -m tests.emulator_xmpp.bench_sessions --transport tls --sessions 200 --notifications 50
    .venv/bin/python -m tests.emulator_xmpp.bench_sessions --transport ws --sessions 200 --notifications 50

Prints how long N concurrent sign-ins (TLS, SASL PLAIN, bind, presence) take and how fast the hub's
notifications reach every client. Clients and server share one process and event loop, so the figures
are a lower bound for the server alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import structlog
import trustme

from fingress.emulator.hub import Hub
from fingress.emulator.xmpp import DirectTlsServer, XmppServerSettings
from tests.emulator_xmpp.clients import TlsStreamClient, WebSocketClient
from tests.emulator_xmpp.fakes import DOMAINS, RecordingCluster
from tests.emulator_xmpp.serving import serving_websocket

UPDATE = "<Update><data><user><state>READY</state></user></data><event>PUT</event></Update>" * 10
MESSAGE = "{jabber:client}message"


class BenchClient(Protocol):
    async def login(
        self, agent_id: str = ..., resource: str = ..., *, password: str = ..., domain: str = ...
    ) -> None: ...

    async def count_messages(self, count: int) -> None: ...

    def abort(self) -> None: ...


class TlsBenchClient(TlsStreamClient):
    async def count_messages(self, count: int) -> None:
        received = 0
        while received < count:
            if (await self.next_stanza()).tag == MESSAGE:
                received += 1


class WebSocketBenchClient(WebSocketClient):
    async def count_messages(self, count: int) -> None:
        received = 0
        while received < count:
            element = await self.next_element()
            assert element is not None, "connection ended"
            received += element.tag == MESSAGE

    def abort(self) -> None:
        self.connection.transport.abort()


@contextlib.asynccontextmanager
async def serving(
    transport: str,
    *,
    hub: Hub,
    cluster: RecordingCluster,
    server_context: ssl.SSLContext,
    settings: XmppServerSettings,
) -> AsyncIterator[int]:
    if transport == "ws":
        async with serving_websocket(
            hub=hub, cluster=cluster, ssl_context=server_context, settings=settings
        ) as port:
            yield port
        return
    server = DirectTlsServer(
        side="A", hub=hub, cluster=cluster, ssl_context=server_context, settings=settings
    )
    await server.start()
    try:
        yield server.port
    finally:
        await server.close()


async def main(transport: str, sessions: int, notifications: int) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*DOMAINS.values(), "localhost", "127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    agents = [str(10_000 + n) for n in range(sessions)]
    cluster = RecordingCluster(passwords={agent: f"secret-{agent}" for agent in agents})
    hub = Hub()
    settings = XmppServerSettings(max_queued_notifications=max(1000, notifications))
    connect: Callable[[int, ssl.SSLContext], Awaitable[BenchClient]] = (
        WebSocketBenchClient.connect if transport == "ws" else TlsBenchClient.connect  # type: ignore[assignment]
    )
    async with serving(
        transport, hub=hub, cluster=cluster, server_context=server_context, settings=settings
    ) as port:
        started = time.perf_counter()
        clients = await asyncio.gather(*(connect(port, client_context) for _ in agents))
        await asyncio.gather(*(client.login(agent) for client, agent in zip(clients, agents, strict=True)))
        await cluster.presence_reaches(lambda presence: len(presence) == sessions)
        login_s = time.perf_counter() - started
        print(f"{transport}: {sessions} sign-ins: {login_s:.2f} s ({sessions / login_s:.0f}/s)")

        started = time.perf_counter()
        readers = [asyncio.create_task(client.count_messages(notifications)) for client in clients]
        for _ in range(notifications):
            for agent in agents:
                hub.publish("A", agent, f"/finesse/api/User/{agent}", UPDATE)
            await asyncio.sleep(0)
        await asyncio.gather(*readers)
        delivery_s = time.perf_counter() - started
        total = sessions * notifications
        rate = total / delivery_s
        print(f"{transport}: {total} notifications of {len(UPDATE)} B: {delivery_s:.2f} s ({rate:.0f}/s)")
        for client in clients:
            client.abort()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--transport", choices=("tls", "ws"), default="tls")
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--notifications", type=int, default=50)
    arguments = parser.parse_args()
    # Per-session info lines would measure the terminal, not the server.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(main(arguments.transport, arguments.sessions, arguments.notifications))
