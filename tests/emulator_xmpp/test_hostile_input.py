"""Hostile input ends that stream with the matching RFC 6120 stream error; nothing raises, others go on."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.xmpp.xmlstream import StanzaReceived
from fingress.emulator.hub import Hub
from fingress.emulator.xmpp.settings import XmppServerSettings
from tests.emulator_xmpp import script
from tests.emulator_xmpp.fakes import RecordingCluster
from tests.emulator_xmpp.harness import StreamHarness, WebSocketHarness, closing_condition

SMALL = XmppServerSettings(max_stanza_bytes=4096, max_depth=8)
BILLION_LAUGHS = (
    "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;'>]>"
)


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def cluster() -> RecordingCluster:
    return RecordingCluster()


def deep(levels: int) -> str:
    return "<message>" + "<x>" * levels + "</x>" * levels + "</message>"


BEFORE_HEADER = [
    (b"\x16\x03\x01\x02\x00garbage", "not-well-formed"),
    (BILLION_LAUGHS.encode(), "restricted-xml"),
    (b"<?xml version='1.0'?><stream:stream xmlns:stream='urn:wrong' version='1.0'>", "invalid-namespace"),
    (script.stream_header(version="0.9").encode(), "unsupported-version"),
    (script.stream_header(domain="elsewhere.example").encode(), "host-unknown"),
]

AFTER_LOGIN = [
    ("<message><body>&xxe;</body></message>", "not-well-formed"),
    ("<?evil instruction?>", "restricted-xml"),
    ("<!-- comment -->", "restricted-xml"),
    ("<message><body>" + "x" * 5000 + "</body></message>", "policy-violation"),
    (deep(20), "policy-violation"),
    ("<foo xmlns='urn:other'/>", "unsupported-stanza-type"),
    ("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>", "unsupported-stanza-type"),
    ("<message><unclosed></message>", "not-well-formed"),
]


@pytest.mark.parametrize(("data", "condition"), BEFORE_HEADER)
def test_hostile_stream_start(hub: Hub, cluster: RecordingCluster, data: bytes, condition: str) -> None:
    client = StreamHarness(hub=hub, cluster=cluster, settings=SMALL)
    assert closing_condition(client.send(data)) == condition
    assert client.session.finished


@pytest.mark.parametrize(("data", "condition"), AFTER_LOGIN)
def test_hostile_stanza_closes_only_that_stream(
    hub: Hub, cluster: RecordingCluster, data: str, condition: str
) -> None:
    bystander = StreamHarness(hub=hub, cluster=cluster, settings=SMALL)
    bystander.login(resource="bystander")
    attacker = StreamHarness(hub=hub, cluster=cluster, settings=SMALL)
    attacker.login(resource="attacker")
    assert closing_condition(attacker.send(data)) == condition
    assert hub.sessions("A", "6021") == frozenset({bystander.session})
    hub.publish("A", "6021", "/finesse/api/User/6021", "<Update/>")
    assert [type(event) for event in bystander.read()] == [StanzaReceived]
    assert attacker.read() == []


@pytest.mark.parametrize(
    "stanza",
    [
        script.presence(),
        "<message to='someone'><body>hi</body></message>",
        script.ping(),
        script.subscribe("/finesse/api/User/6021", "6021@x"),
    ],
)
def test_stanzas_before_authentication_are_not_authorized(
    hub: Hub, cluster: RecordingCluster, stanza: str
) -> None:
    client = StreamHarness(hub=hub, cluster=cluster)
    client.send(script.stream_header())
    assert closing_condition(client.send(stanza)) == "not-authorized"
    assert cluster.presence == []


def test_stanzas_before_bind_are_not_authorized(hub: Hub, cluster: RecordingCluster) -> None:
    client = StreamHarness(hub=hub, cluster=cluster)
    client.send(script.stream_header())
    client.send(script.auth("6021", "secret-6021"))
    client.send(script.stream_header())
    assert closing_condition(client.send(script.presence())) == "not-authorized"
    assert cluster.presence == []


def test_stanza_split_across_the_size_limit_in_chunks(hub: Hub, cluster: RecordingCluster) -> None:
    client = StreamHarness(hub=hub, cluster=cluster, settings=SMALL)
    client.login()
    client.send("<message><body>")
    events = []
    for _ in range(10):
        events += client.send("y" * 1000)
    assert closing_condition(events) == "policy-violation"


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.binary(max_size=200), max_size=8))
def test_random_bytes_never_raise(chunks: list[bytes]) -> None:
    client = StreamHarness(hub=Hub(), cluster=RecordingCluster(), settings=SMALL)
    for chunk in chunks:
        client.framing.receive_data(chunk)
        client.framing.data_to_send()
    client.framing.receive_eof()
    assert client.session.agent_id is None


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.binary(max_size=200), max_size=8))
def test_random_bytes_after_login_never_raise_and_leave_cleanly(chunks: list[bytes]) -> None:
    hub, cluster = Hub(), RecordingCluster()
    client = StreamHarness(hub=hub, cluster=cluster, settings=SMALL)
    client.login()
    for chunk in chunks:
        client.framing.receive_data(chunk)
        client.framing.data_to_send()
    client.framing.receive_eof()
    assert hub.sessions("A", "6021") == frozenset()
    assert cluster.presence[-1] == ("A", "6021", False)


_names = st.sampled_from(["iq", "presence", "message", "bind", "pubsub", "subscribe", "ping", "x"])
_namespaces = st.sampled_from(
    [
        "jabber:client",
        "urn:ietf:params:xml:ns:xmpp-bind",
        "http://jabber.org/protocol/pubsub",
        "urn:xmpp:ping",
        "urn:ietf:params:xml:ns:xmpp-sasl",
        "urn:other",
    ]
)
_attributes = st.dictionaries(
    st.sampled_from(["type", "id", "to", "node", "jid", "mechanism"]),
    st.sampled_from(
        ["get", "set", "result", "error", "unavailable", "", "/finesse/api/User/6021", "PLAIN", "6021@x"]
    ),
    max_size=3,
)


@st.composite
def _elements(draw: st.DrawFn, depth: int = 0) -> str:
    name, namespace = draw(_names), draw(_namespaces)
    attributes = "".join(f' {key}="{value}"' for key, value in draw(_attributes).items())
    children = "" if depth >= 2 else "".join(draw(st.lists(_elements(depth + 1), max_size=2)))
    text = draw(st.sampled_from(["", "AGYwMjEAc2VjcmV0LTYwMjE=", "desktop", "x"]))
    return f'<{name} xmlns="{namespace}"{attributes}>{text}{children}</{name}>'


@settings(max_examples=300, deadline=None)
@given(stanzas=st.lists(_elements(), max_size=6), login_first=st.booleans())
def test_random_stanzas_never_raise(stanzas: list[str], login_first: bool) -> None:
    hub, cluster = Hub(), RecordingCluster()
    client = StreamHarness(hub=hub, cluster=cluster, settings=SMALL)
    if login_first:
        client.login()
    else:
        client.send(script.stream_header())
    for stanza in stanzas:
        client.send(stanza)
        hub.publish("A", "6021", "/finesse/api/User/6021", "<Update/>")
    client.framing.receive_eof()
    assert hub.sessions("A", "6021") == frozenset()


@settings(max_examples=200, deadline=None)
@given(messages=st.lists(st.one_of(st.text(max_size=100), st.binary(max_size=50), _elements()), max_size=6))
def test_random_websocket_messages_never_raise(messages: list[str | bytes]) -> None:
    client = WebSocketHarness(hub=Hub(), cluster=RecordingCluster(), settings=SMALL)
    client.send(script.ws_open())
    for message in messages:
        client.framing.receive_message(message)
        client.framing.messages_to_send()
    client.framing.connection_lost()
    assert client.session.finished
