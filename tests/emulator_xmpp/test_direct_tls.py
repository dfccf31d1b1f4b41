"""The direct-TLS transport on a real socket: an independent client (slixmpp) and hand-driven ones."""

from __future__ import annotations

import asyncio
import ssl
from xml.etree.ElementTree import Element

from slixmpp import JID, ClientXMPP
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from connector.xmpp.xmlstream import StanzaReceived, StreamOpened
from fingress.emulator.hub import Hub
from fingress.emulator.xmpp import DirectTlsServer, XmppServerSettings
from tests.emulator_xmpp import script
from tests.emulator_xmpp.clients import NOTIFICATION, TlsStreamClient
from tests.emulator_xmpp.fakes import DOMAINS, RecordingCluster
from tests.support.timing import seconds

DOMAIN = DOMAINS["A"]
EVENT_XPATH = "{jabber:client}message/{http://jabber.org/protocol/pubsub#event}event"
USER_NODE = "/finesse/api/User/6021"


def notification_of(message: Element) -> tuple[str, str]:
    """(node, Update document) of a pubsub event message."""
    items = next(message.iter("{http://jabber.org/protocol/pubsub#event}items"))
    return items.get("node", ""), next(message.iter(NOTIFICATION)).text or ""


async def test_slixmpp_signs_in_and_receives_notifications(
    direct_tls: DirectTlsServer, hub: Hub, cluster: RecordingCluster, client_ssl_context: ssl.SSLContext
) -> None:
    received: asyncio.Queue[Element] = asyncio.Queue()
    session_started = asyncio.Event()
    xmpp = ClientXMPP(
        f"6021@{DOMAIN}/slixmpp", "secret-6021", sasl_mech="PLAIN", ssl_context=client_ssl_context
    )
    xmpp.enable_direct_tls = True
    xmpp.enable_starttls = False
    xmpp.enable_plaintext = False
    xmpp.register_plugin("xep_0199")
    xmpp.register_plugin("xep_0060")
    xmpp.register_handler(
        Callback(
            "finesse notifications", MatchXPath(EVENT_XPATH), lambda stanza: received.put_nowait(stanza.xml)
        )
    )

    def start(_event: object) -> None:
        xmpp.send_presence()
        session_started.set()

    xmpp.add_event_handler("session_start", start)
    xmpp.connect("127.0.0.1", direct_tls.port)
    try:
        async with asyncio.timeout(seconds(10)):
            await session_started.wait()
            await cluster.presence_is("A", "6021", True)
            await xmpp.plugin["xep_0199"].ping(jid=JID(DOMAIN), timeout=seconds(5))
            pubsub = xmpp.plugin["xep_0060"]
            await pubsub.subscribe(JID(f"pubsub.{DOMAIN}"), f"{USER_NODE}/Dialogs")  # type: ignore[no-untyped-call]

            hub.publish(
                "A", "6021", USER_NODE, "<Update><data><user><state>READY</state></user></data></Update>"
            )
            hub.publish("A", "6022", "/finesse/api/User/6022", "<Update>someone else's</Update>")
            hub.broadcast("A", "/finesse/api/SystemInfo", "<Update><data><SystemInfo/></data></Update>")
            first, second = await received.get(), await received.get()
        assert notification_of(first) == (
            USER_NODE,
            "<Update><data><user><state>READY</state></user></data></Update>",
        )
        assert notification_of(second) == (
            "/finesse/api/SystemInfo",
            "<Update><data><SystemInfo/></data></Update>",
        )
        assert first.get("from") == f"pubsub.{DOMAIN}"
        assert received.empty()
    finally:
        async with asyncio.timeout(seconds(10)):
            await xmpp.disconnect()
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6021", False)
    assert hub.sessions("A", "6021") == frozenset()


async def test_abrupt_disconnect_reports_unavailable(
    direct_tls: DirectTlsServer, hub: Hub, cluster: RecordingCluster, client_ssl_context: ssl.SSLContext
) -> None:
    client = await TlsStreamClient.connect(direct_tls.port, client_ssl_context)
    await client.login()
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6021", True)
    client.abort()
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6021", False)
    assert hub.sessions("A", "6021") == frozenset()


async def test_unavailable_presence_then_close(
    direct_tls: DirectTlsServer, cluster: RecordingCluster, client_ssl_context: ssl.SSLContext
) -> None:
    client = await TlsStreamClient.connect(direct_tls.port, client_ssl_context)
    await client.login()
    await client.send(script.presence("unavailable"))
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6021", False)
    await client.send("</stream:stream>")
    assert await client.closing_condition() == ""
    assert cluster.presence == [("A", "6021", True), ("A", "6021", False)]


async def test_side_drop_ends_sessions_with_system_shutdown(
    direct_tls: DirectTlsServer, hub: Hub, cluster: RecordingCluster, client_ssl_context: ssl.SSLContext
) -> None:
    client = await TlsStreamClient.connect(direct_tls.port, client_ssl_context)
    await client.login()
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6021", True)
    cluster.service["A"] = False
    hub.drop_side("A")
    assert await client.closing_condition() == "system-shutdown"
    assert cluster.presence[-1] == ("A", "6021", False)


async def test_out_of_service_side_refuses_new_connections(
    direct_tls: DirectTlsServer, cluster: RecordingCluster, client_ssl_context: ssl.SSLContext
) -> None:
    cluster.service["A"] = False
    client = await TlsStreamClient.connect(direct_tls.port, client_ssl_context)
    await client.send(script.stream_header())
    assert isinstance(await client.next_event(), StreamOpened)
    assert await client.closing_condition() == "system-shutdown"
    assert await client.next_event() is None  # and the server hung up


async def test_hostile_input_closes_that_stream_while_another_keeps_receiving(
    direct_tls: DirectTlsServer, hub: Hub, cluster: RecordingCluster, client_ssl_context: ssl.SSLContext
) -> None:
    bystander = await TlsStreamClient.connect(direct_tls.port, client_ssl_context)
    await bystander.login(agent_id="6022", resource="bystander")
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6022", True)
    attacks: list[tuple[str | bytes, str]] = [
        (b"\x00\xff garbage", "not-well-formed"),
        ("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><stream:stream>", "restricted-xml"),
        (script.stream_header() + "<message><body>&a;</body></message>", "not-well-formed"),
        (script.stream_header() + "<presence/>", "not-authorized"),
        (script.stream_header() + "<message>" + "<x>" * 100, "policy-violation"),
        (script.stream_header() + "<message><body>" + "x" * 70_000, "policy-violation"),
    ]
    for data, condition in attacks:
        attacker = await TlsStreamClient.connect(direct_tls.port, client_ssl_context)
        await attacker.send(data)
        assert await attacker.closing_condition() == condition, data[:60]
        await attacker.close()
        hub.publish("A", "6022", "/finesse/api/User/6022", f"<Update>after {condition}</Update>")
        assert notification_of(await bystander.next_stanza()) == (
            "/finesse/api/User/6022",
            f"<Update>after {condition}</Update>",
        )


async def test_stalled_client_is_cut_off_and_others_keep_receiving(
    direct_tls: DirectTlsServer, hub: Hub, cluster: RecordingCluster, client_ssl_context: ssl.SSLContext
) -> None:
    stalled = await TlsStreamClient.connect(direct_tls.port, client_ssl_context)
    await stalled.login(agent_id="6021", resource="stalled")
    bystander = await TlsStreamClient.connect(direct_tls.port, client_ssl_context)
    await bystander.login(agent_id="6022", resource="bystander")
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6021", True)
        await cluster.presence_is("A", "6022", True)
    big_update = "<Update>" + "x" * 65_536 + "</Update>"
    published = 0
    # The stalled client never reads: socket buffers fill, the server's writer blocks, deliveries queue
    # up to the bound (16 here) and the session is closed rather than grow.
    async with asyncio.timeout(seconds(20)):
        while hub.sessions("A", "6021"):
            hub.publish("A", "6021", USER_NODE, big_update)
            published += 1
            await asyncio.sleep(0)  # let the writer run: this is a pump, not a wait for readiness
        await cluster.presence_is("A", "6021", False)
    # Cut off once the socket buffers and the bound are full (~100 updates of 64 KiB here), not once the
    # server's own write buffer has taken whatever was published (an unbounded buffer took 30,000).
    assert published < 1_000
    hub.publish("A", "6022", "/finesse/api/User/6022", "<Update>still here</Update>")
    assert notification_of(await bystander.next_stanza())[1] == "<Update>still here</Update>"
    # What the stalled client finally reads ends well before everything that was published.
    delivered = 0
    async with asyncio.timeout(seconds(20)):
        while (event := await stalled.next_event()) is not None:
            if isinstance(event, StanzaReceived) and event.element.tag == "{jabber:client}message":
                delivered += 1
    assert delivered < published


async def test_closing_the_server_ends_open_sessions(
    hub: Hub,
    cluster: RecordingCluster,
    xmpp_server_ssl_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
) -> None:
    server = DirectTlsServer(side="B", hub=hub, cluster=cluster, ssl_context=xmpp_server_ssl_context)
    await server.start()
    client = await TlsStreamClient.connect(server.port, client_ssl_context)
    await client.send(script.stream_header(domain=DOMAINS["B"]))
    await client.next_stanza()
    await client.send(script.auth("6021", "secret-6021"))
    await client.next_stanza()
    await client.send(script.stream_header(domain=DOMAINS["B"]))
    await client.next_stanza()
    await client.send(script.bind("b"))
    await client.next_stanza()
    await client.send(script.presence())
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("B", "6021", True)
        await server.close()
    assert await client.closing_condition() == "system-shutdown"
    assert cluster.presence[-1] == ("B", "6021", False)
    assert hub.sessions("B", "6021") == frozenset()


async def test_idle_client_is_closed_with_connection_timeout(
    hub: Hub,
    cluster: RecordingCluster,
    xmpp_server_ssl_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
) -> None:
    server = DirectTlsServer(
        side="A",
        hub=hub,
        cluster=cluster,
        ssl_context=xmpp_server_ssl_context,
        settings=XmppServerSettings(idle_timeout_s=0.2),
    )
    await server.start()
    try:
        client = await TlsStreamClient.connect(server.port, client_ssl_context)
        await client.login()
        assert await client.closing_condition() == "connection-timeout"
        assert cluster.presence == [("A", "6021", True), ("A", "6021", False)]
    finally:
        async with asyncio.timeout(seconds(5)):
            await server.close()


async def test_plaintext_garbage_on_the_tls_port_leaves_the_server_serving(
    direct_tls: DirectTlsServer, hub: Hub, cluster: RecordingCluster, client_ssl_context: ssl.SSLContext
) -> None:
    async with asyncio.timeout(seconds(5)):
        reader, writer = await asyncio.open_connection("127.0.0.1", direct_tls.port)
        writer.write(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>" + bytes(range(256)))
        await writer.drain()
        try:
            answer = await reader.read()
        except ConnectionResetError:
            answer = b""
        assert answer == b""  # the TLS handshake failed: the server hung up without a word
        writer.close()
    client = await TlsStreamClient.connect(direct_tls.port, client_ssl_context)
    await client.login()
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6021", True)
