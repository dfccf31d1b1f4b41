"""RFC 7395 framing of the server session: messages in, messages out, no event loop."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import pytest

from fingress.emulator.hub import Hub
from fingress.emulator.xmpp.settings import XmppServerSettings
from tests.emulator_xmpp import script
from tests.emulator_xmpp.fakes import DOMAINS, RecordingCluster
from tests.emulator_xmpp.harness import WebSocketHarness, stream_error_condition

FRAMING = "{urn:ietf:params:xml:ns:xmpp-framing}"
X = script.WS_XMLNS


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def cluster() -> RecordingCluster:
    return RecordingCluster()


@pytest.fixture
def client(hub: Hub, cluster: RecordingCluster) -> WebSocketHarness:
    return WebSocketHarness(hub=hub, cluster=cluster, settings=XmppServerSettings(max_stanza_bytes=4096))


def login(client: WebSocketHarness) -> None:
    client.send(script.ws_open())
    client.send(script.auth("6021", "secret-6021"))
    client.send(script.ws_open())
    client.send(script.bind("ws-1", xmlns=X))
    client.send(script.presence(xmlns=X))


def closed_with(messages: list[Element]) -> str:
    """The stream-error condition before the final ``<close/>`` (``""`` for a clean close)."""
    assert messages, "nothing sent"
    assert messages[-1].tag == f"{FRAMING}close", messages
    conditions = [stream_error_condition(message) for message in messages]
    return next((c for c in conditions if c), "")


def test_open_is_answered_with_open_and_features(client: WebSocketHarness) -> None:
    opened, features = client.send(script.ws_open())
    assert opened.tag == f"{FRAMING}open"
    assert opened.get("from") == DOMAINS["A"]
    assert opened.get("version") == "1.0"
    assert opened.get("id")
    assert features.tag == "{http://etherx.jabber.org/streams}features"


def test_sign_in_and_notification(client: WebSocketHarness, hub: Hub, cluster: RecordingCluster) -> None:
    login(client)
    assert cluster.presence == [("A", "6021", True)]
    hub.publish("A", "6021", "/finesse/api/User/6021/Dialogs", "<Update/>")
    [message] = client.framing.messages_to_send()
    assert message.startswith('<message xmlns="jabber:client" from="pubsub.')
    assert "&lt;Update/&gt;" in message


def test_every_outgoing_stanza_declares_its_namespace(client: WebSocketHarness) -> None:
    login(client)
    client.framing.receive_message(script.ping(xmlns=X))
    [pong] = client.framing.messages_to_send()
    assert pong.startswith('<iq xmlns="jabber:client"')


def test_features_use_the_stream_prefix_declared_in_the_message(client: WebSocketHarness) -> None:
    client.framing.receive_message(script.ws_open())
    messages = client.framing.messages_to_send()
    assert messages[1].startswith('<stream:features xmlns:stream="http://etherx.jabber.org/streams">')


def test_close_is_answered_with_close(client: WebSocketHarness, hub: Hub, cluster: RecordingCluster) -> None:
    login(client)
    assert closed_with(client.send(script.ws_close())) == ""
    assert cluster.presence[-1] == ("A", "6021", False)
    assert hub.sessions("A", "6021") == frozenset()


@pytest.mark.parametrize(
    ("message", "condition"),
    [
        (b"<presence xmlns='jabber:client'/>", "bad-format"),
        ("<presence/>", "unsupported-stanza-type"),  # RFC 7395: each stanza carries jabber:client itself
        ("<message xmlns='jabber:client'><body>", "not-well-formed"),
        ("<!DOCTYPE x [<!ENTITY a 'b'>]><message xmlns='jabber:client'/>", "restricted-xml"),
        ("<message xmlns='jabber:client'>" + "x" * 5000 + "</message>", "policy-violation"),
        (script.ws_open(), "bad-format"),
    ],
)
def test_hostile_messages_close_the_stream(
    client: WebSocketHarness, message: str | bytes, condition: str
) -> None:
    login(client)
    assert closed_with(client.send(message)) == condition


def test_stanza_before_open_is_bad_format(client: WebSocketHarness) -> None:
    messages = client.send(script.presence(xmlns=X))
    assert messages[0].tag == f"{FRAMING}open"  # a header precedes even an immediate error
    assert closed_with(messages) == "bad-format"


def test_out_of_service_side_refuses_after_open(client: WebSocketHarness, cluster: RecordingCluster) -> None:
    cluster.service["A"] = False
    assert closed_with(client.send(script.ws_open())) == "system-shutdown"
