"""The XMPP client against a real, independent server: Debian's Prosody on loopback, both transports."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator
from typing import Any
from xml.etree.ElementTree import Element, SubElement

import pytest

from connector.xmpp import errors
from connector.xmpp.connection import XmppConnection
from connector.xmpp.endpoint import TransportKind, XmppEndpoint
from connector.xmpp.errors import XmppError
from connector.xmpp.events import (
    PresenceReceived,
    PubsubItemReceived,
    SessionClosed,
    SessionEstablished,
    SessionFailed,
    XmppEvent,
)
from connector.xmpp.settings import SessionOptions, XmppAccount
from tests.support.timing import seconds
from tests.xmpp import transcripts
from tests.xmpp.conftest import USERS, endpoint_of
from tests.xmpp.prosody import ProsodyServer

pytestmark = pytest.mark.prosody
TRANSPORTS: list[TransportKind] = ["websocket", "tls"]
PUBSUB = "http://jabber.org/protocol/pubsub"


def account(server: ProsodyServer, username: str, **changes: str) -> XmppAccount:
    return XmppAccount(username=username, domain=server.domain, password=USERS[username], **changes)


async def connect(
    server: ProsodyServer,
    context: ssl.SSLContext,
    transport: TransportKind,
    username: str = "agent1",
    **changes: str,
) -> XmppConnection:
    async with asyncio.timeout(seconds(10)):
        return await XmppConnection.connect(
            account=account(server, username, **changes),
            endpoint=endpoint_of(server, transport),
            ssl_context=context,
        )


async def next_event(events: AsyncIterator[XmppEvent], kind: type, from_jid: str | None = None) -> XmppEvent:
    """The next event of ``kind`` (and from ``from_jid``, for presences); others are skipped. Bounded."""
    async with asyncio.timeout(seconds(5)):
        async for event in events:
            if isinstance(event, kind) and (from_jid is None or getattr(event, "from_jid", None) == from_jid):
                return event
    raise AssertionError(f"the session ended before a {kind.__name__}")


async def create_node(publisher: XmppConnection, server: ProsodyServer) -> str:
    node = f"/finesse/api/User/{uuid.uuid4().hex[:8]}"
    pubsub = Element(f"{{{PUBSUB}}}pubsub")
    SubElement(pubsub, f"{{{PUBSUB}}}create", {"node": node})
    async with asyncio.timeout(seconds(5)):
        await publisher.request("set", pubsub, to=server.pubsub_domain)
    return node


async def publish(
    publisher: XmppConnection, server: ProsodyServer, node: str, item_id: str, text: str
) -> None:
    """Publish like Finesse does: the Update document as the escaped text of <notification>."""
    pubsub = Element(f"{{{PUBSUB}}}pubsub")
    item = SubElement(SubElement(pubsub, f"{{{PUBSUB}}}publish", {"node": node}), f"{{{PUBSUB}}}item")
    item.set("id", item_id)
    SubElement(item, f"{{{PUBSUB}}}notification").text = text
    async with asyncio.timeout(seconds(5)):
        await publisher.request("set", pubsub, to=server.pubsub_domain)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_connects_authenticates_binds_and_closes(
    prosody: ProsodyServer, trusting_context: ssl.SSLContext, transport: TransportKind
) -> None:
    connection = await connect(prosody, trusting_context, transport)
    assert connection.jid.startswith("agent1@localhost/fingress-")
    assert connection.is_open
    async with asyncio.timeout(seconds(5)):
        assert await connection.close() == SessionClosed(by_peer=False)
    assert not connection.is_open
    assert connection.outcome == SessionClosed(by_peer=False)
    async with asyncio.timeout(seconds(5)):
        assert await connection.close() == SessionClosed(by_peer=False)  # idempotent


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_subscribed_node_delivers_items_published_by_another_account(
    prosody: ProsodyServer, trusting_context: ssl.SSLContext, transport: TransportKind
) -> None:
    publisher = await connect(prosody, trusting_context, "websocket", "publisher")
    agent = await connect(prosody, trusting_context, transport)
    try:
        node = await create_node(publisher, prosody)
        other = await create_node(publisher, prosody)
        async with asyncio.timeout(seconds(5)):
            await agent.subscribe(node, service=prosody.pubsub_domain)
            await agent.subscribe(other)  # pubsub.<domain> by default, as with Finesse
        events = agent.events()
        for name in ("login.xml", "ready.xml"):
            text = transcripts.capture_notification_text(name)
            await publish(publisher, prosody, node, name, text)
            event = await next_event(events, PubsubItemReceived)
            assert event == PubsubItemReceived(node, name, text, prosody.pubsub_domain)

        async with asyncio.timeout(seconds(5)):
            await agent.unsubscribe(node)
        await publish(publisher, prosody, node, "after-unsubscribe", "not for the agent")
        await publish(publisher, prosody, other, "still-subscribed", "for the agent")
        event = await next_event(events, PubsubItemReceived)
        assert isinstance(event, PubsubItemReceived)
        assert (event.node, event.item_id) == (other, "still-subscribed")
    finally:
        async with asyncio.timeout(seconds(5)):
            await agent.close()
            await publisher.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_subscribing_to_a_missing_node_is_refused_with_the_servers_condition(
    prosody: ProsodyServer, trusting_context: ssl.SSLContext, transport: TransportKind
) -> None:
    agent = await connect(prosody, trusting_context, transport)
    try:
        with pytest.raises(XmppError) as raised:
            async with asyncio.timeout(seconds(5)):
                await agent.subscribe("/no/such/node")
        assert (raised.value.reason, raised.value.condition) == (errors.REFUSED, "item-not-found")
        assert agent.is_open  # a refused request does not end the session
    finally:
        async with asyncio.timeout(seconds(5)):
            await agent.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_ping_round_trip(
    prosody: ProsodyServer, trusting_context: ssl.SSLContext, transport: TransportKind
) -> None:
    connection = await connect(prosody, trusting_context, transport)
    try:
        async with asyncio.timeout(seconds(5)):
            round_trips = [await connection.ping() for _ in range(3)]
        assert all(0 < rtt < seconds(1) for rtt in round_trips)
    finally:
        async with asyncio.timeout(seconds(5)):
            await connection.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_many_requests_at_once_are_all_answered(
    prosody: ProsodyServer, trusting_context: ssl.SSLContext, transport: TransportKind
) -> None:
    connection = await connect(prosody, trusting_context, transport)
    try:
        async with asyncio.timeout(seconds(5)):
            round_trips = await asyncio.gather(*(connection.ping() for _ in range(200)))
        assert len(round_trips) == 200
        assert connection.is_open
    finally:
        async with asyncio.timeout(seconds(5)):
            await connection.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_bad_password_is_an_auth_failure(
    prosody: ProsodyServer, trusting_context: ssl.SSLContext, transport: TransportKind
) -> None:
    with pytest.raises(XmppError) as raised:
        async with asyncio.timeout(seconds(10)):
            await XmppConnection.connect(
                account=XmppAccount(username="agent1", domain=prosody.domain, password="wrong-password"),
                endpoint=endpoint_of(prosody, transport),
                ssl_context=trusting_context,
            )
    assert (raised.value.reason, raised.value.condition) == (errors.AUTH_FAILED, "not-authorized")
    assert "wrong-password" not in str(raised.value)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_presence_of_another_resource_is_reported(
    prosody: ProsodyServer, trusting_context: ssl.SSLContext, transport: TransportKind
) -> None:
    # Stands in for watching the ``finesse`` user: a JID's availability arrives as presence.
    watcher = await connect(prosody, trusting_context, transport, "agent2")
    events = watcher.events()
    try:
        other = await connect(prosody, trusting_context, "websocket", "agent2")
        arrived = await next_event(events, PresenceReceived, other.jid)
        assert arrived == PresenceReceived(other.jid, "available")
        async with asyncio.timeout(seconds(5)):
            await other.close()
        left = await next_event(events, PresenceReceived, other.jid)
        assert left == PresenceReceived(other.jid, "unavailable")
    finally:
        async with asyncio.timeout(seconds(5)):
            await watcher.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_server_side_end_is_learnt_through_wait_closed(
    prosody: ProsodyServer, trusting_context: ssl.SSLContext, transport: TransportKind
) -> None:
    # Prosody resolves a resource conflict by disconnecting the older session with a stream error.
    first = await connect(prosody, trusting_context, transport, resource="fingress-same")
    second = await connect(prosody, trusting_context, "websocket", resource="fingress-same")
    try:
        async with asyncio.timeout(seconds(5)):
            outcome = await first.wait_closed()
        assert isinstance(outcome, SessionFailed)
        assert (outcome.reason, outcome.condition) == (errors.STREAM_ERROR, "conflict")
        with pytest.raises(XmppError) as raised:
            await first.ping()
        assert raised.value.reason == errors.NOT_ESTABLISHED
        async with asyncio.timeout(seconds(5)):
            assert await second.ping() > 0
    finally:
        async with asyncio.timeout(seconds(5)):
            await first.close()
            await second.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_events_go_to_a_callback_when_one_is_given(
    prosody: ProsodyServer, trusting_context: ssl.SSLContext, transport: TransportKind
) -> None:
    seen: list[XmppEvent] = []
    ended = asyncio.Event()

    def handler(event: XmppEvent) -> None:
        seen.append(event)
        if isinstance(event, SessionClosed):
            ended.set()

    async with asyncio.timeout(seconds(10)):
        connection = await XmppConnection.connect(
            account=account(prosody, "agent1"),
            endpoint=endpoint_of(prosody, transport),
            ssl_context=trusting_context,
            on_event=handler,
        )
        await connection.close()
        await ended.wait()
    assert seen[0] == SessionEstablished(connection.jid)
    assert seen[-1] == SessionClosed(by_peer=False)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_scram_sha1_when_the_server_offers_only_scram(
    prosody_scram_only: ProsodyServer, trusting_context: ssl.SSLContext, transport: TransportKind
) -> None:
    connection = await connect(prosody_scram_only, trusting_context, transport)
    try:
        async with asyncio.timeout(seconds(5)):
            assert await connection.ping() > 0
    finally:
        async with asyncio.timeout(seconds(5)):
            await connection.close()
    # Proof that the server really offered no PLAIN: a PLAIN-only client finds nothing to use.
    with pytest.raises(XmppError) as raised:
        async with asyncio.timeout(seconds(10)):
            await XmppConnection.connect(
                account=account(prosody_scram_only, "agent1"),
                endpoint=endpoint_of(prosody_scram_only, transport),
                ssl_context=trusting_context,
                options=SessionOptions(sasl_mechanisms=("PLAIN",)),
            )
    assert (raised.value.reason, raised.value.condition) == (errors.AUTH_FAILED, "invalid-mechanism")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_scram_with_a_bad_password_is_an_auth_failure(
    prosody_scram_only: ProsodyServer, trusting_context: ssl.SSLContext, transport: TransportKind
) -> None:
    with pytest.raises(XmppError) as raised:
        async with asyncio.timeout(seconds(10)):
            await XmppConnection.connect(
                account=XmppAccount(username="agent1", domain=prosody_scram_only.domain, password="nope"),
                endpoint=endpoint_of(prosody_scram_only, transport),
                ssl_context=trusting_context,
            )
    assert (raised.value.reason, raised.value.condition) == (errors.AUTH_FAILED, "not-authorized")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_certificates_are_verified(prosody: ProsodyServer, transport: TransportKind) -> None:
    untrusting = ssl.create_default_context()  # the system store does not know the test CA
    with pytest.raises(XmppError) as raised:
        async with asyncio.timeout(seconds(10)):
            await XmppConnection.connect(
                account=account(prosody, "agent1"),
                endpoint=endpoint_of(prosody, transport),
                ssl_context=untrusting,
            )
    assert raised.value.reason == errors.CONNECT_FAILED
    assert isinstance(raised.value.__cause__, ssl.SSLCertVerificationError)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_certificate_must_name_the_server(
    prosody: ProsodyServer, trusting_context: ssl.SSLContext, transport: TransportKind
) -> None:
    endpoint = endpoint_of(prosody, transport)
    wrong_name = XmppEndpoint(
        host=endpoint.host,
        port=endpoint.port,
        transport=endpoint.transport,
        path=endpoint.path,
        server_hostname="finesse.example.com",
    )
    with pytest.raises(XmppError) as raised:
        async with asyncio.timeout(seconds(10)):
            await XmppConnection.connect(
                account=account(prosody, "agent1"), endpoint=wrong_name, ssl_context=trusting_context
            )
    assert raised.value.reason == errors.CONNECT_FAILED


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_items_from_an_independent_publisher_slixmpp(
    prosody: ProsodyServer, trusting_context: ssl.SSLContext, transport: TransportKind
) -> None:
    from slixmpp import ClientXMPP  # only this test needs it

    agent = await connect(prosody, trusting_context, transport)
    started = asyncio.Event()
    publisher = ClientXMPP(
        f"publisher@{prosody.domain}/slixmpp",
        USERS["publisher"],
        sasl_mech="PLAIN",
        ssl_context=trusting_context,
    )
    publisher.enable_direct_tls = True
    publisher.enable_starttls = False
    publisher.enable_plaintext = False
    publisher.register_plugin("xep_0060")
    publisher.add_event_handler("session_start", lambda _event: started.set())
    publisher.connect(prosody.host, prosody.c2s_tls_port)
    node = f"/finesse/api/User/{uuid.uuid4().hex[:8]}/Dialogs"
    text = transcripts.capture_notification_text("not-ready.xml")
    try:
        async with asyncio.timeout(seconds(10)):
            await started.wait()
            pubsub: Any = publisher.plugin["xep_0060"]  # slixmpp is untyped here
            await pubsub.create_node(prosody.pubsub_domain, node, timeout=seconds(5))
            await agent.subscribe(node)
            payload = Element(f"{{{PUBSUB}}}notification")
            payload.text = text
            await pubsub.publish(
                prosody.pubsub_domain, node, id="from-slixmpp", payload=payload, timeout=seconds(5)
            )
        event = await next_event(agent.events(), PubsubItemReceived)
        assert event == PubsubItemReceived(node, "from-slixmpp", text, prosody.pubsub_domain)
    finally:
        async with asyncio.timeout(seconds(10)):
            await agent.close()
            await publisher.disconnect()
