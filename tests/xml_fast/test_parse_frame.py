"""parse_frame: the fast path (the careful parser's expat with xml.etree's C tree builder as handlers, then
names and depth fixed up) gives exactly the careful parser's elements and errors, and is the path a
pubsub notification takes."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from connector.xmpp.xmlstream import fast_frame, parse_frame
from tests.support.captures import CAPTURE_FILES
from tests.xml_fast.generated import Outcome, documents, outcome, shape

HOSTILE = ["<!-- c -->", "<?pi x?>", "<![CDATA[x<y]]>", '<!DOCTYPE a [<!ENTITY e "x">]>', "&e;", "\x00",
           "\udc80", "<", "</a>", "<b>", "<?xml version='1.0'?>", "<p:b>", ' xmlns="a b"', "]]>"]  # fmt: skip


def fast_and_careful(
    frame: str | bytes, *, max_bytes: int = 1 << 20, max_depth: int = 32
) -> tuple[Outcome, Outcome]:
    fast = outcome(lambda: parse_frame(frame, max_bytes=max_bytes, max_depth=max_depth))
    careful = outcome(lambda: parse_frame(frame, max_bytes=max_bytes, max_depth=max_depth, fast_path=None))
    return fast, careful


def forms(frame: str) -> list[str | bytes]:
    return [frame, frame.encode("utf-8", "surrogatepass")]


@settings(max_examples=150, deadline=None)
@given(frame=documents(clean=False), max_depth=st.integers(1, 8), max_bytes=st.integers(50, 2000))
def test_any_frame_gives_what_the_careful_path_gives(frame: str, max_depth: int, max_bytes: int) -> None:
    for form in forms(frame):
        fast, careful = fast_and_careful(form, max_bytes=max_bytes, max_depth=max_depth)
        assert fast == careful


@settings(max_examples=100, deadline=None)
@given(frame=documents(clean=True), data=st.data())
def test_a_mutilated_frame_gives_what_the_careful_path_gives(frame: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(frame)))
    mutilated = frame[:position] + data.draw(st.sampled_from(HOSTILE)) + frame[position:]
    for form in forms(mutilated):
        fast, careful = fast_and_careful(form)
        assert fast == careful


@settings(max_examples=100, deadline=None)
@given(frame=documents(clean=True))
def test_the_fast_path_takes_every_clean_frame_the_careful_path_accepts(frame: str) -> None:
    careful = outcome(lambda: parse_frame(frame, max_depth=1000, fast_path=None))
    assume(isinstance(careful, list))
    fast = fast_frame(frame.encode(), 1000)
    assert fast is not None
    assert shape(fast) == careful


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("<!DOCTYPE a><a/>", "restricted-xml"),
        ('<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', "restricted-xml"),
        ('<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>', "restricted-xml"),
        ("<a><?pi x?></a>", "restricted-xml"),
        ('<?xml-stylesheet href="x"?><a/>', "restricted-xml"),
        ("<a><!-- c --></a>", "restricted-xml"),
        ("<a>" * 33 + "</a>" * 33, "policy-violation"),
        ("<a>" + "x" * 2000 + "</a>", "policy-violation"),
        (b"<a>\xff</a>", "not-well-formed"),
        ("<a>\ud800</a>", "not-well-formed"),
        ("<a><b></a>", "not-well-formed"),
        ("<open", "not-well-formed"),
        ("<a/><b/>", "not-well-formed"),
        ("<a>&lol;</a>", "not-well-formed"),
        ("<x:a/>", "not-well-formed"),  # an unbound prefix
        ('<a xmlns="x y"/>', "not-well-formed"),  # expat refuses its namespace separator in a URI
        ('<a xmlns:p="x&#32;y"/>', "not-well-formed"),
        # Told UTF-8, expat still follows a UTF-16 byte-order mark, and "<!" is not those bytes then.
        ("<a><!-- c --></a>".encode("utf-16"), "restricted-xml"),
    ],
)
def test_hostile_frames_fail_as_on_the_careful_path(frame: str | bytes, reason: str) -> None:
    fast, careful = fast_and_careful(frame, max_bytes=1000)
    assert isinstance(careful, tuple)
    assert careful[1] == reason
    assert fast == careful


@pytest.mark.parametrize(
    ("frame", "tags", "text"),
    [
        ("<a><![CDATA[x<y]]></a>", ["a"], "x<y"),
        # Frames are UTF-8 whatever the declaration says, as text and as bytes.
        ('<?xml version="1.0" encoding="ISO-8859-1"?><a>é</a>', ["a"], "é"),
        ('<?xml version="1.0" encoding="ISO-8859-1"?><a>é</a>'.encode(), ["a"], "é"),
        ('<a xmlns="a}b"/>', ["{a}b}a"], None),
        ('<a xmlns="urn:a"><b xmlns=""/><p:c xmlns:p="urn:p"/></a>', ["{urn:a}a", "b", "{urn:p}c"], None),
        ("<a>&#65;&lt;&gt;&amp;&quot;&apos;&#x1F600;\r\n</a>", ["a"], "A<>&\"'\U0001f600\n"),
    ],
)
def test_edge_cases_parse_as_on_the_careful_path(
    frame: str | bytes, tags: list[str], text: str | None
) -> None:
    fast, careful = fast_and_careful(frame)
    assert fast == careful
    assert isinstance(careful, list)
    tree = careful
    assert [tag for tag, *_ in tree] == tags
    assert tree[0][2] == text


def test_attributes_keep_their_namespaces() -> None:
    frame = (
        '<message xmlns="jabber:client" to="a@b" xml:lang="en" xmlns:p="urn:p" p:x="1&#9;2" y="a\tb">'
        '<body p:z="3"/></message>'
    )
    fast = fast_frame(frame.encode(), 32)
    assert fast is not None
    assert fast.attrib == {
        "to": "a@b",
        "{http://www.w3.org/XML/1998/namespace}lang": "en",
        "{urn:p}x": "1\t2",
        "y": "a b",
    }
    assert list(fast.attrib) == list(parse_frame(frame, fast_path=None).attrib)  # same order
    assert fast[0].attrib == {"{urn:p}z": "3"}


def test_depth_at_the_limit_passes_and_one_more_fails() -> None:
    assert fast_frame(b"<a>" * 4 + b"</a>" * 4, 4) is not None
    assert fast_frame(b"<a>" * 5 + b"</a>" * 5, 4) is None


def capture_frames() -> list[bytes]:
    # The captures are stanzas after a comment naming them; a WebSocket frame carries jabber:client.
    stanzas = [path.read_text(encoding="utf-8").split("-->", 1)[1].strip() for path in CAPTURE_FILES]
    return [stanza.replace("<message ", '<message xmlns="jabber:client" ', 1).encode() for stanza in stanzas]


@pytest.mark.parametrize("frame", capture_frames(), ids=[path.name for path in CAPTURE_FILES])
def test_captured_notifications_take_the_fast_path_and_parse_identically(frame: bytes) -> None:
    taken: list[Element | None] = []

    def recording_fast_path(raw: bytes, max_depth: int) -> Element | None:
        element = fast_frame(raw, max_depth)
        taken.append(element)
        return element

    root = parse_frame(frame, fast_path=recording_fast_path)
    assert len(taken) == 1
    assert taken[0] is root  # the element returned is the one the fast path built
    assert shape(root) == shape(parse_frame(frame, fast_path=None))
    assert root.tag == "{jabber:client}message"
    assert shape(parse_frame(frame.decode())) == shape(root)
