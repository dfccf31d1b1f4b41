"""Prosody instances for the XMPP client tests (one per test session and configuration), and every
async test run on both event loops the connector may find itself on: asyncio's own and uvloop (which
uvicorn installs when it is present)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trustme

from connector.xmpp.endpoint import TransportKind, XmppEndpoint, client_ssl_context
from connector.xmpp.tls_pipe import TlsPipe
from tests.support.loops import LoopFactory, both_loops
from tests.support.streams import stream_server
from tests.support.timing import seconds
from tests.xmpp.prosody import ProsodyServer, running_prosody

USERS = {"agent1": "agent1-pass", "agent2": "agent2-pass", "publisher": "publisher-pass"}


def pytest_asyncio_loop_factories() -> dict[str, LoopFactory]:
    return both_loops()


@pytest.fixture(scope="session")
def prosody(ca: trustme.CA) -> Iterator[ProsodyServer]:
    """PLAIN over TLS (``internal_plain``), like Finesse; ``publisher`` may create nodes and publish."""
    with running_prosody(ca=ca, users=USERS, admins=("publisher",)) as server:
        yield server


@pytest.fixture(scope="session")
def prosody_scram_only(ca: trustme.CA) -> Iterator[ProsodyServer]:
    """Hashed passwords and PLAIN disabled: the server offers SCRAM only."""
    with running_prosody(
        ca=ca,
        users=USERS,
        authentication="internal_hashed",
        disabled_mechanisms=(
            "PLAIN",
            "DIGEST-MD5",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-256-PLUS",
        ),
    ) as server:
        yield server


@pytest.fixture(scope="session")
def trusting_context(ca_file: Path) -> ssl.SSLContext:
    """What a connector builds once from its configured CA file and shares across all sessions."""
    return client_ssl_context(ca_file=ca_file)


def endpoint_of(server: ProsodyServer, transport: TransportKind) -> XmppEndpoint:
    if transport == "tls":
        return XmppEndpoint(
            host=server.host, port=server.c2s_tls_port, transport="tls", server_hostname=server.domain
        )
    return XmppEndpoint(
        host=server.host, port=server.https_port, path="/xmpp-websocket", server_hostname=server.domain
    )


TlsPipeServed = tuple[TlsPipe, asyncio.Queue[asyncio.StreamWriter]]


@pytest.fixture
async def served(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> AsyncIterator[TlsPipeServed]:
    """A :class:`TlsPipe` connected over real TLS on loopback, and the server's side of it (the stream
    writer of the accepted connection, from the queue)."""
    writers: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writers.put(writer)

    async with stream_server(accept, ssl_context=server_ssl_context) as port:
        async with asyncio.timeout(seconds(5)):
            pipe = await TlsPipe.connect(
                "127.0.0.1", port, ssl_context=client_ssl_context, server_hostname="localhost"
            )
        try:
            yield pipe, writers
        finally:
            pipe.close()
