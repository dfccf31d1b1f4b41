"""The XMPP client against fingress's own Finesse emulator (its XMPP servers on both transports): the
same connect / subscribe / notification / ping / failure checks as against Prosody."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator

import defusedxml.ElementTree as SafeET
import httpx
import pytest

from connector.xmpp import errors
from connector.xmpp.connection import XmppConnection
from connector.xmpp.endpoint import TransportKind, XmppEndpoint
from connector.xmpp.errors import XmppError
from connector.xmpp.events import PubsubItemReceived, SessionFailed, XmppEvent
from connector.xmpp.settings import XmppAccount
from fingress.emulator.server import EmulatorServer
from tests.emulator.conftest import emulator, emulator_config, https  # noqa: F401 - fixtures
from tests.support.timing import seconds

AGENT, PASSWORD, EXTENSION = "1001", "alice-pass", "1001001"
USER_NODE = f"/finesse/api/User/{AGENT}"
TRANSPORTS: list[TransportKind] = ["websocket", "tls"]


def endpoint(server: EmulatorServer, transport: TransportKind) -> XmppEndpoint:
    # The test certificate names localhost; Finesse deployments name the node's FQDN.
    if transport == "tls":
        return XmppEndpoint(
            host="127.0.0.1", port=server.xmpp_port("A"), transport="tls", server_hostname="localhost"
        )
    return XmppEndpoint(
        host="127.0.0.1", port=server.https_port("A"), path="/ws/", server_hostname="localhost"
    )


async def connect(
    server: EmulatorServer, context: ssl.SSLContext, transport: TransportKind, password: str = PASSWORD
) -> XmppConnection:
    async with asyncio.timeout(seconds(10)):
        return await XmppConnection.connect(
            account=XmppAccount(username=AGENT, domain=server.cluster.xmpp_domain("A"), password=password),
            endpoint=endpoint(server, transport),
            ssl_context=context,
        )


@contextlib.asynccontextmanager
async def connected(
    server: EmulatorServer, context: ssl.SSLContext, transport: TransportKind
) -> AsyncIterator[XmppConnection]:
    """A connected session, closed (bounded) however the block ends."""
    connection = await connect(server, context, transport)
    try:
        yield connection
    finally:
        async with asyncio.timeout(seconds(5)):
            await connection.close()


async def next_item(connection: XmppConnection, node: str) -> PubsubItemReceived:
    async with asyncio.timeout(seconds(5)):
        async for event in connection.events():
            if isinstance(event, PubsubItemReceived) and event.node == node:
                return event
    raise AssertionError("the session ended first")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_rest_sign_in_arrives_as_a_notification(
    emulator: EmulatorServer,  # noqa: F811 - the fixture imported above
    https: httpx.AsyncClient,  # noqa: F811
    client_ssl_context: ssl.SSLContext,
    transport: TransportKind,
) -> None:
    async with connected(emulator, client_ssl_context, transport) as connection:
        assert connection.jid.startswith(f"{AGENT}@{emulator.cluster.xmpp_domain('A')}/fingress-")
        async with asyncio.timeout(seconds(5)):
            await connection.subscribe(USER_NODE)  # already subscribed by Finesse: confirmed again
            assert await connection.ping() > 0
        response = await https.put(
            f"{emulator.base_url('A')}{USER_NODE}",
            auth=(AGENT, PASSWORD),
            content=f"<User><state>LOGIN</state><extension>{EXTENSION}</extension></User>".encode(),
        )
        assert response.status_code == 202
        item = await next_item(connection, USER_NODE)
        update = SafeET.fromstring(item.notification_text)
        assert update.tag == "Update"
        assert update.findtext("data/user/state") == "NOT_READY"
        assert item.service == f"pubsub.{emulator.cluster.xmpp_domain('A')}"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_subscribing_to_another_agents_node_is_refused(
    emulator: EmulatorServer,  # noqa: F811
    client_ssl_context: ssl.SSLContext,
    transport: TransportKind,
) -> None:
    async with connected(emulator, client_ssl_context, transport) as connection:
        with pytest.raises(XmppError) as raised:
            async with asyncio.timeout(seconds(5)):
                await connection.subscribe("/finesse/api/User/1002")
        assert raised.value.reason == errors.REFUSED


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_bad_password_is_an_auth_failure(
    emulator: EmulatorServer,  # noqa: F811
    client_ssl_context: ssl.SSLContext,
    transport: TransportKind,
) -> None:
    with pytest.raises(XmppError) as raised:
        await connect(emulator, client_ssl_context, transport, password="not-alice")
    assert (raised.value.reason, raised.value.condition) == (errors.AUTH_FAILED, "not-authorized")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_side_going_down_ends_the_session_with_system_shutdown(
    emulator: EmulatorServer,  # noqa: F811
    client_ssl_context: ssl.SSLContext,
    transport: TransportKind,
) -> None:
    seen: list[XmppEvent] = []
    connection = await connect(emulator, client_ssl_context, transport)
    emulator.cluster.set_in_service("A", False)
    async with asyncio.timeout(seconds(5)):
        async for event in connection.events():
            seen.append(event)
    outcome = seen[-1]
    assert isinstance(outcome, SessionFailed)
    assert (outcome.reason, outcome.condition) == (errors.STREAM_ERROR, "system-shutdown")
    assert await connection.wait_closed() == outcome
