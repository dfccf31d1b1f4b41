"""The WebSocket transport (RFC 7395) on a real uvicorn over TLS, driven by the ``websockets`` client."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import ssl
from collections.abc import Callable

import pytest
import websockets

from edge.events.channel import MessageListener, WriteResult
from fingress.emulator.hub import Hub
from fingress.emulator.xmpp.websocket import Outbox, write_message
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


async def test_a_client_that_stops_reading_gets_every_notification_in_order_once_it_reads_again(
    websocket_port: int, hub: Hub, cluster: RecordingCluster, client_ssl_context: ssl.SSLContext
) -> None:
    # A small receive buffer, set before connecting (no window autotuning), and no reading: ~14 MB of
    # notifications cannot all fit in the kernel's buffers (the sender's grows to 4 MiB at most), so the
    # server's transport fills and the emulator has to wait to write.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", websocket_port))
    async with asyncio.timeout(seconds(5)):
        connection = await websockets.connect(
            f"wss://localhost:{websocket_port}/ws/",
            sock=sock,
            ssl=client_ssl_context,
            subprotocols=[websockets.Subprotocol("xmpp")],
        )
    client = WebSocketClient(connection)
    await client.login()
    async with asyncio.timeout(seconds(5)):
        await cluster.presence_is("A", "6021", True)
    transport = connection.transport
    transport.pause_reading()
    # Random text: permessage-deflate (which uvicorn offers) would shrink repeated characters to nothing.
    noise = [base64.b64encode(os.urandom(700_000)).decode() for _ in range(15)]
    bodies = [f"<Update>{index:02d}{text}</Update>" for index, text in enumerate(noise)]
    for body in bodies:
        hub.publish("A", "6021", USER_NODE, body)
    await asyncio.sleep(0.2)  # let the server write until its transport is full
    transport.resume_reading()
    received = []
    for _ in bodies:
        message = await client.next_element()
        assert message is not None
        received.append(next(message.iter(NOTIFICATION)).text)
    assert received == bodies
    await client.close()


class ScriptedChannel:
    """A socket channel answering writes from a script (our own seam: edge.events.channel.SocketChannel)."""

    def __init__(self, answers: list[WriteResult]) -> None:
        self.answers = answers
        self.written: list[str] = []
        self.waits = 0

    def write_text(self, text: str) -> WriteResult:
        answer = self.answers.pop(0)
        if answer is WriteResult.WRITTEN:
            self.written.append(text)
        return answer

    def when_writable(self, callback: Callable[[], None]) -> None:
        self.waits += 1
        asyncio.get_running_loop().call_soon(callback)

    def listen(self, listener: MessageListener | None) -> None:
        raise AssertionError("not used for writing")


async def test_a_full_channel_is_waited_for_and_the_same_message_written_after() -> None:
    channel = ScriptedChannel([WriteResult.FULL, WriteResult.FULL, WriteResult.WRITTEN])
    async with asyncio.timeout(seconds(5)):
        await write_message(channel, "<message/>")
    assert (channel.written, channel.waits) == (["<message/>"], 2)


async def test_a_gone_channel_ends_the_write_with_an_error_the_pump_ends_the_session_on() -> None:
    channel = ScriptedChannel([WriteResult.FULL, WriteResult.GONE])
    with pytest.raises(ConnectionResetError):
        async with asyncio.timeout(seconds(5)):
            await write_message(channel, "<message/>")
    assert channel.written == []


def test_the_outbox_writes_at_once_what_the_socket_takes() -> None:
    channel = ScriptedChannel([WriteResult.WRITTEN, WriteResult.WRITTEN])
    assert Outbox(channel).write_now(["<a/>", "<b/>"]) is True
    assert channel.written == ["<a/>", "<b/>"]


async def test_what_waits_in_the_outbox_leaves_first_and_in_order() -> None:
    # b is refused; c must not overtake it, though the socket would have taken c.
    write_now = [WriteResult.WRITTEN, WriteResult.FULL]  # a, b
    flush = [WriteResult.FULL, WriteResult.WRITTEN, WriteResult.WRITTEN, WriteResult.WRITTEN]  # b, b, c, d
    channel = ScriptedChannel([*write_now, *flush])
    outbox = Outbox(channel)
    assert outbox.write_now(["<a/>", "<b/>", "<c/>"]) is False
    assert channel.written == ["<a/>"]
    async with asyncio.timeout(seconds(5)):
        await outbox.flush(lambda: ["<d/>"])
    assert channel.written == ["<a/>", "<b/>", "<c/>", "<d/>"]
    assert (channel.answers, channel.waits) == ([], 1)
