"""The hardened XML stream parser: bytes in, events out, including hostile input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.xmpp.xmlstream import (
    StanzaReceived,
    StreamClosed,
    StreamFailed,
    StreamOpened,
    XmlStreamParser,
    parse_frame,
    serialize,
)
from edge.tunnel.errors import ProtocolError
from tests.support.captures import CAPTURE_FILES, CAPTURES_DIR

CAPTURES = CAPTURES_DIR  # the shared captures (tests/support/captures.py)
HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' from='finesse' id='s1' version='1.0'>"
)
EVENT_NS = "{http://jabber.org/protocol/pubsub#event}"


def capture_stanza(name: str) -> bytes:
    text = (CAPTURES / name).read_text(encoding="utf-8")
    return text.split("-->", 1)[1].strip().encode()


def feed_all(parser: XmlStreamParser, chunks: list[bytes]) -> list[object]:
    events: list[object] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events


@pytest.mark.parametrize("capture", [path.name for path in CAPTURE_FILES])
def test_capture_parses_identically_at_every_split(capture: str) -> None:
    document = HEADER + capture_stanza(capture) + b"</stream:stream>"
    whole = feed_all(XmlStreamParser(), [document])
    assert isinstance(whole[0], StreamOpened)
    assert whole[0].tag == "{http://etherx.jabber.org/streams}stream"
    stanza = whole[1]
    assert isinstance(stanza, StanzaReceived)
    assert isinstance(whole[2], StreamClosed)
    notification = stanza.element.find(f"{EVENT_NS}event/{EVENT_NS}items/{EVENT_NS}item/*")
    assert notification is not None
    assert notification.text is not None
    assert notification.text.strip().startswith("<Update>")
    expected = serialize(stanza.element)
    for split in range(1, len(document)):
        events = feed_all(XmlStreamParser(), [document[:split], document[split:]])
        assert [type(e) for e in events] == [StreamOpened, StanzaReceived, StreamClosed]
        received = events[1]
        assert isinstance(received, StanzaReceived)
        assert serialize(received.element) == expected


def test_byte_by_byte_feeding() -> None:
    document = HEADER + b"<presence/>  <iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"
    events = feed_all(XmlStreamParser(), [bytes([b]) for b in document])
    kinds = [type(e) for e in events]
    assert kinds == [StreamOpened, StanzaReceived, StanzaReceived]
    iq = events[2]
    assert isinstance(iq, StanzaReceived)
    assert iq.element.tag == "{jabber:client}iq"
    assert iq.element[0].tag == "{urn:xmpp:ping}ping"


@pytest.mark.parametrize(
    ("payload", "condition"),
    [
        (b'<!DOCTYPE lolz [<!ENTITY lol "lol">]>', "not-well-formed"),  # a DTD inside a document
        (b"<message><!-- hi --></message>", "restricted-xml"),
        (b"<message><?pi data?></message>", "restricted-xml"),
        (b"<message>&lol;</message>", "not-well-formed"),
        (b"<message></iq>", "not-well-formed"),
        (b"\xff\xfe<garbage", "not-well-formed"),
    ],
)
def test_hostile_input_fails_with_condition(payload: bytes, condition: str) -> None:
    parser = XmlStreamParser()
    events = feed_all(parser, [HEADER, payload])
    assert isinstance(events[-1], StreamFailed)
    assert events[-1].condition == condition
    assert parser.failed
    assert parser.feed(b"<presence/>") == []


def test_doctype_before_stream_is_refused() -> None:
    events = XmlStreamParser().feed(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><stream:stream/>')
    assert events == [StreamFailed("restricted-xml", events[0].text)]  # type: ignore[union-attr]


def test_stanza_size_is_bounded_even_without_a_closing_tag() -> None:
    parser = XmlStreamParser(max_stanza_bytes=1000)
    events = feed_all(parser, [HEADER, b"<message><body>", b"x" * 600, b"y" * 600])
    assert isinstance(events[-1], StreamFailed)
    assert events[-1].condition == "policy-violation"


def test_an_unfinished_giant_start_tag_is_bounded() -> None:
    parser = XmlStreamParser(max_stanza_bytes=1000)
    events = feed_all(parser, [HEADER, b"<message a='" + b"x" * 700, b"y" * 700])
    assert isinstance(events[-1], StreamFailed)
    assert events[-1].condition == "policy-violation"


def test_many_small_stanzas_do_not_add_up() -> None:
    parser = XmlStreamParser(max_stanza_bytes=100)
    events = feed_all(parser, [HEADER, *[b"<presence/>"] * 200])
    assert sum(isinstance(e, StanzaReceived) for e in events) == 200


def test_depth_is_bounded() -> None:
    parser = XmlStreamParser(max_depth=5)
    events = feed_all(parser, [HEADER, b"<a>" * 6])
    assert isinstance(events[-1], StreamFailed)
    assert events[-1].condition == "policy-violation"
    ok = feed_all(XmlStreamParser(max_depth=5), [HEADER, b"<a>" * 5 + b"</a>" * 5])
    assert isinstance(ok[-1], StanzaReceived)


def test_reset_starts_a_new_stream() -> None:
    parser = XmlStreamParser()
    success = b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
    assert [type(e) for e in parser.feed(HEADER + success)] == [StreamOpened, StanzaReceived]
    parser.reset()
    assert [type(e) for e in parser.feed(HEADER + b"<presence/>")] == [StreamOpened, StanzaReceived]


def test_parse_frame_and_serialize_round_trip() -> None:
    frame = (
        '<message xmlns="jabber:client" to="a@b" xml:lang="en"><body>1 &lt; 2 &amp; "q"</body>'
        '<event xmlns="http://jabber.org/protocol/pubsub#event"><items node="/n"/></event></message>'
    )
    element = parse_frame(frame)
    assert element.tag == "{jabber:client}message"
    assert element.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    text = serialize(element)
    assert "ns0" not in text
    assert parse_frame(text).find("{jabber:client}body").text == '1 < 2 & "q"'  # type: ignore[union-attr]
    assert serialize(parse_frame(text)) == text
    assert serialize(element, parent_namespace="jabber:client").startswith('<message to="a@b"')


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("<open", "not-well-formed"),
        ("<a/><b/>", "not-well-formed"),
        ('<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>', "restricted-xml"),
        ("<a>" * 40 + "</a>" * 40, "policy-violation"),
        ("<a>" + "x" * 2000 + "</a>", "policy-violation"),
        ("<a>\ud800</a>", "not-well-formed"),
    ],
)
def test_parse_frame_refuses(frame: str, reason: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_frame(frame, max_bytes=1000)
    assert refused.value.reason == reason


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_garbage_never_raises(chunks: list[bytes]) -> None:
    parser = XmlStreamParser(max_stanza_bytes=256, max_depth=4)
    for event in feed_all(parser, [HEADER, *chunks]):
        assert isinstance(event, StreamOpened | StanzaReceived | StreamClosed | StreamFailed)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=200))
def test_garbage_frames_raise_only_protocol_errors(text: str) -> None:
    with contextlib.suppress(ProtocolError):
        parse_frame(text, max_bytes=500, max_depth=4)
