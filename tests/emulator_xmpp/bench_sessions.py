"""Benchmark (not a test): sign-in and notification delivery through the emulator's direct-TLS server.

    .venv/bin/python -m tests.emulator_xmpp.bench_sessions --sessions 200 --notifications 50

Prints how long N concurrent sign-ins (TLS, SASL PLAIN, bind, presence) take and how fast the hub's
notifications reach every client.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import time

import trustme

from connector.xmpp.xmlstream import StanzaReceived
from fingress.emulator.hub import Hub
from fingress.emulator.xmpp import DirectTlsServer, XmppServerSettings
from tests.emulator_xmpp.clients import TlsStreamClient
from tests.emulator_xmpp.fakes import DOMAINS, RecordingCluster

UPDATE = "<Update><data><user><state>READY</state></user></data><event>PUT</event></Update>" * 10


async def receive(client: TlsStreamClient, count: int) -> None:
    received = 0
    while received < count:
        event = await client.next_event()
        assert event is not None, "connection ended"
        if isinstance(event, StanzaReceived) and event.element.tag == "{jabber:client}message":
            received += 1


async def main(sessions: int, notifications: int) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*DOMAINS.values(), "127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    agents = [str(10_000 + n) for n in range(sessions)]
    cluster = RecordingCluster(passwords={agent: f"secret-{agent}" for agent in agents})
    hub = Hub()
    server = DirectTlsServer(
        side="A",
        hub=hub,
        cluster=cluster,
        ssl_context=server_context,
        settings=XmppServerSettings(max_queued_notifications=max(1000, notifications)),
    )
    await server.start()
    try:
        started = time.perf_counter()
        clients = await asyncio.gather(
            *(TlsStreamClient.connect(server.port, client_context) for _ in agents)
        )
        await asyncio.gather(
            *(client.login(agent_id=agent) for client, agent in zip(clients, agents, strict=True))
        )
        await cluster.presence_reaches(lambda presence: len(presence) == sessions)
        login_s = time.perf_counter() - started
        print(f"{sessions} sign-ins: {login_s:.2f} s ({sessions / login_s:.0f}/s)")

        started = time.perf_counter()
        readers = [asyncio.create_task(receive(client, notifications)) for client in clients]
        for _ in range(notifications):
            for agent in agents:
                hub.publish("A", agent, f"/finesse/api/User/{agent}", UPDATE)
            await asyncio.sleep(0)
        await asyncio.gather(*readers)
        delivery_s = time.perf_counter() - started
        total = sessions * notifications
        rate = total / delivery_s
        print(f"{total} notifications ({len(UPDATE)} B documents): {delivery_s:.2f} s ({rate:.0f}/s)")
        for client in clients:
            client.abort()
    finally:
        await server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--notifications", type=int, default=50)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.sessions, arguments.notifications))
