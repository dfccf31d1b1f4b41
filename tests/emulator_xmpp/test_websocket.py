"""The WebSocket transport (RFC 7395) on a real uvicorn over TLS, driven by the ``websockets`` client."""

from __future__ import annotations

import asyncio
import ssl

import pytest
import websockets

from fingress.emulator.hub import Hub
from tests.emulator_xmpp import script
from tests.emulator_xmpp.clients import NOTIFICATION, WebSocketClient
from tests.emulator_xmpp.fakes import DOMAINS, RecordingCluster
from tests.support.timing import seconds

FRAMING = "{urn:ietf:params:xml:ns:xmpp-framing}"
USER_NODE = "/finesse/api/User/6021"


async def test_sign_in_ping_subscribe_and_notifications(
    websocket_port: int, hub: Hub, cluster: RecordingCluster, client_ssl_context: ssl.SSLContext
) -> None:
    client = await WebSocketClient.connect(websocket_port, client_ssl_context)
    assert client.connection.subprotocol == "xmpp"
    await client.login()
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6021", True)
    await client.send(script.ping("p1", xmlns=script.WS_XMLNS))
    pong = await client.next_element()
    assert pong is not None
    assert (pong.tag, pong.get("type"), pong.get("id")) == ("{jabber:client}iq", "result", "p1")
    await client.send(script.subscribe(f"{USER_NODE}/Dialogs", f"6021@{DOMAINS['A']}", xmlns=script.WS_XMLNS))
    subscribed = await client.next_element()
    assert subscribed is not None
    assert subscribed.get("type") == "result"

    hub.publish(
        "A", "6021", f"{USER_NODE}/Dialogs", "<Update><data><dialogs/></data><event>POST</event></Update>"
    )
    message = await client.next_element()
    assert message is not None
    assert message.get("to") == f"6021@{DOMAINS['A']}"
    assert (
        next(message.iter(NOTIFICATION)).text == "<Update><data><dialogs/></data><event>POST</event></Update>"
    )

    await client.send(script.ws_close())
    assert await client.closing_condition() == ""
    await client.close()
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6021", False)
    assert hub.sessions("A", "6021") == frozenset()


async def test_handshake_without_the_xmpp_subprotocol_is_refused(
    websocket_port: int, client_ssl_context: ssl.SSLContext
) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with asyncio.timeout(seconds(5)):
            await websockets.connect(f"wss://localhost:{websocket_port}/ws/", ssl=client_ssl_context)
    assert refused.value.response.status_code == 403


async def test_abrupt_disconnect_reports_unavailable(
    websocket_port: int, hub: Hub, cluster: RecordingCluster, client_ssl_context: ssl.SSLContext
) -> None:
    client = await WebSocketClient.connect(websocket_port, client_ssl_context)
    await client.login()
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6021", True)
    client.connection.transport.abort()
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6021", False)
    assert hub.sessions("A", "6021") == frozenset()


async def test_side_drop_and_refusal_while_out_of_service(
    websocket_port: int, hub: Hub, cluster: RecordingCluster, client_ssl_context: ssl.SSLContext
) -> None:
    client = await WebSocketClient.connect(websocket_port, client_ssl_context)
    await client.login()
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6021", True)
    cluster.service["A"] = False
    hub.drop_side("A")
    assert await client.closing_condition() == "system-shutdown"
    assert await client.next_element() is None  # the server closed the WebSocket too

    refused = await WebSocketClient.connect(websocket_port, client_ssl_context)
    await refused.send(script.ws_open())
    opened = await refused.next_element()
    assert opened is not None
    assert opened.tag == f"{FRAMING}open"
    assert await refused.closing_condition() == "system-shutdown"


async def test_hostile_messages_close_that_stream_while_another_keeps_receiving(
    websocket_port: int, hub: Hub, cluster: RecordingCluster, client_ssl_context: ssl.SSLContext
) -> None:
    bystander = await WebSocketClient.connect(websocket_port, client_ssl_context)
    await bystander.login(agent_id="6022", resource="bystander")
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6022", True)
    attacks: list[tuple[list[str | bytes], str]] = [
        ([b"\x00\x01binary"], "bad-format"),
        (["<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'"], "not-well-formed"),
        (
            ["<!DOCTYPE x [<!ENTITY a 'aaaa'>]><open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"],
            "restricted-xml",
        ),
        ([script.ws_open(), "<presence xmlns='jabber:client'/>"], "not-authorized"),
        (
            [script.ws_open(), "<message xmlns='jabber:client'>" + "<x>" * 100 + "</x>" * 100 + "</message>"],
            "policy-violation",
        ),
        (
            [script.ws_open(), "<message xmlns='jabber:client'>" + "x" * 70_000 + "</message>"],
            "policy-violation",
        ),
    ]
    for messages, condition in attacks:
        attacker = await WebSocketClient.connect(websocket_port, client_ssl_context)
        for message in messages:
            await attacker.send(message)
        assert await attacker.closing_condition() == condition, messages[-1][:60]
        hub.publish("A", "6022", "/finesse/api/User/6022", f"<Update>after {condition}</Update>")
        delivered = await bystander.next_element()
        assert delivered is not None
        assert next(delivered.iter(NOTIFICATION)).text == f"<Update>after {condition}</Update>"
    await bystander.close()
