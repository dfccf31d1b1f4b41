"""The composed emulator with the XMPP servers mounted: a WebSocket (RFC 7395) client at ``/ws/`` and a
direct-TLS client sign in over SASL PLAIN, receive the pubsub notification of a REST state change, and
their presence drives the cluster's forced logout."""

from __future__ import annotations

import asyncio
import base64
import ssl
import xml.etree.ElementTree as ET

import defusedxml.ElementTree as SafeET
import httpx
import pytest
import websockets

from connector.xmpp.xmlstream import parse_frame
from fingress.emulator.config import EmulatorConfig
from fingress.emulator.server import EmulatorServer
from tests.emulator.support import RecordingSession, fast_config
from tests.support.timing import seconds

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event"
ALICE = ("1001", "alice-pass")


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return fast_config(timing={"presence_logout_delay_s": 0.2})


class WebSocketXmpp:
    def __init__(self, connection: websockets.ClientConnection, domain: str) -> None:
        self.connection = connection
        self.domain = domain

    async def receive(self) -> ET.Element:
        async with asyncio.timeout(seconds(5)):
            frame = await self.connection.recv()
        return parse_frame(frame, max_bytes=1 << 20, max_depth=64)

    async def open(self) -> None:
        await self.connection.send(f'<open xmlns="{FRAMING}" to="{self.domain}" version="1.0"/>')
        assert (await self.receive()).tag == f"{{{FRAMING}}}open"
        await self.receive()  # stream features

    async def login(self, agent_id: str, password: str) -> None:
        await self.open()
        token = base64.b64encode(f"\0{agent_id}\0{password}".encode()).decode()
        await self.connection.send(f'<auth xmlns="{SASL}" mechanism="PLAIN">{token}</auth>')
        assert (await self.receive()).tag == f"{{{SASL}}}success"
        await self.open()
        await self.connection.send(
            '<iq xmlns="jabber:client" type="set" id="bind1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">'
            "<resource>emulator-test</resource></bind></iq>"
        )
        assert (await self.receive()).get("type") == "result"
        await self.connection.send('<presence xmlns="jabber:client"/>')
        # The server handles a session's stanzas in order: once the ping is answered, presence is known.
        await self.connection.send(
            '<iq xmlns="jabber:client" type="get" id="ping1"><ping xmlns="urn:xmpp:ping"/></iq>'
        )
        while (await self.receive()).get("id") != "ping1":
            pass

    async def next_notification(self) -> tuple[str, ET.Element]:
        while True:
            stanza = await self.receive()
            items = stanza.find(f"{{{PUBSUB_EVENT}}}event/{{{PUBSUB_EVENT}}}items")
            if items is None:
                continue
            text = items.findtext(f"{{{PUBSUB_EVENT}}}item/{{urn:xmpp:push:0}}notification")
            assert text is not None
            update: ET.Element = SafeET.fromstring(text.strip())
            return items.get("node", ""), update


async def test_websocket_client_receives_rest_changes_and_its_presence_counts(
    emulator: EmulatorServer, https: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> None:
    watcher = RecordingSession()
    emulator.hub.attach("B", "1001", watcher)
    ws_url = emulator.base_url("A").replace("https://", "wss://") + "/ws/"
    async with websockets.connect(ws_url, ssl=client_ssl_context, subprotocols=["xmpp"]) as connection:  # type: ignore[list-item]
        client = WebSocketXmpp(connection, emulator.cluster.xmpp_domain("A"))
        await client.login(*ALICE)
        assert emulator.cluster.presence()["A"] == {"1001": True}
        response = await https.put(
            f"{emulator.base_url('A')}/finesse/api/User/1001",
            auth=ALICE,
            headers={"requestId": "ws-1"},
            content=b"<User><state>LOGIN</state><extension>1001001</extension></User>",
        )
        assert response.status_code == 202
        node, update = await client.next_notification()
        assert node == "/finesse/api/User/1001"
        assert update.findtext("data/user/state") == "NOT_READY"
        assert update.findtext("requestId") == "ws-1"
        await https.put(
            f"{emulator.base_url('A')}/finesse/api/User/1001",
            auth=ALICE,
            content=b"<User><state>READY</state></User>",
        )
        _node, update = await client.next_notification()
        assert update.findtext("data/user/state") == "READY"
    # The WebSocket closed: side A's presence timer runs out and forces the agent NOT_READY (reason 255).
    forced = await watcher.wait_for(lambda n: n.text("data/user/ReasonCode/code") == "255")
    assert forced.text("data/user/state") == "NOT_READY"
    assert emulator.cluster.presence()["A"]["1001"] is False


async def test_direct_tls_client_signs_in_and_receives_notifications(
    emulator: EmulatorServer, https: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> None:
    domain = emulator.cluster.xmpp_domain("B")
    async with asyncio.timeout(seconds(5)):
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", emulator.xmpp_port("B"), ssl=client_ssl_context, server_hostname="localhost"
        )
    received = b""

    async def read_until(marker: bytes) -> None:
        nonlocal received
        async with asyncio.timeout(seconds(5)):
            while marker not in received:
                chunk = await reader.read(65536)
                assert chunk, received
                received += chunk

    header = (
        f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
        f" to='{domain}' version='1.0'>"
    ).encode()
    try:
        writer.write(header)
        await read_until(b"</stream:features>")
        token = base64.b64encode(b"\x001002\x00bob-pass")
        writer.write(b"<auth xmlns='" + SASL.encode() + b"' mechanism='PLAIN'>" + token + b"</auth>")
        await read_until(b"success")
        received = b""
        writer.write(header)
        await read_until(b"</stream:features>")
        writer.write(
            b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            b"<resource>t</resource></bind></iq>"
            b"<presence/>"
        )
        await read_until(b"</iq>")
        received = b""
        response = await https.put(
            f"{emulator.base_url('B')}/finesse/api/User/1002",
            auth=("1002", "bob-pass"),
            content=b"<User><state>LOGIN</state><extension>1002001</extension></User>",
        )
        assert response.status_code == 202
        await read_until(b"</message>")
        assert b"/finesse/api/User/1002" in received
        assert b"&lt;state&gt;NOT_READY&lt;/state&gt;" in received
    finally:
        writer.close()


async def test_a_stopped_emulator_leaves_no_timer_behind(
    emulator_config: EmulatorConfig, server_ssl_context: ssl.SSLContext
) -> None:
    server = EmulatorServer(
        emulator_config=emulator_config,
        ssl_context=server_ssl_context,
        host="127.0.0.1",
        https_ports={"A": 0, "B": 0},
        xmpp_ports={"A": 0, "B": 0},
    )
    async with server:
        session = RecordingSession()
        server.hub.attach("A", "1001", session)
        server.cluster.cti.sign_in(
            "1001", extension="1001001", device_id="", mobile=None, side="A", request_id=""
        )
        server.cluster.cti.set_ready("1001", "")
        server.cluster.offer_call(agent_id="1001", from_address="1", call_variables={})  # rings for 30 s
        server.cluster.presence_changed("A", "1001", False)  # forced logout in 0.2 s
        count = len(session.notifications)
    await asyncio.sleep(seconds(0.4))  # longer than the presence delay: nothing may fire after close
    assert len(session.notifications) == count


async def test_bad_xmpp_passwords_count_toward_the_rest_lock(
    emulator: EmulatorServer, https: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> None:
    ws_url = emulator.base_url("A").replace("https://", "wss://") + "/ws/"
    async with websockets.connect(ws_url, ssl=client_ssl_context, subprotocols=["xmpp"]) as connection:  # type: ignore[list-item]
        client = WebSocketXmpp(connection, emulator.cluster.xmpp_domain("A"))
        await client.open()
        for _ in range(3):
            token = base64.b64encode(b"\x001001\x00guess").decode()
            await connection.send(f'<auth xmlns="{SASL}" mechanism="PLAIN">{token}</auth>')
            assert (await client.receive()).tag == f"{{{SASL}}}failure"
    url = f"{emulator.base_url('B')}/finesse/api/User/1001"
    for _ in range(2):
        assert (await https.get(url, auth=("1001", "guess"))).status_code == 401
    locked = await https.get(url, auth=ALICE)
    assert locked.status_code == 401
    assert "ACCOUNT_LOCKED" in locked.text
