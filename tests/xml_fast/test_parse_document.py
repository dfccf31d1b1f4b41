"""parse_document: the fast path (xml.etree's C parser, then names and depth fixed up) gives exactly the
careful parser's trees and errors, and is the path a Finesse notification takes."""

from __future__ import annotations

import contextlib
import functools
from xml.etree.ElementTree import Element

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from connector.finesse.xmltree import XmlLimits, fast_tree, parse_document
from tests.finesse.captures import capture_names, notification_text
from tests.xml_fast.generated import Outcome, documents, outcome, shape

HOSTILE = ["<!-- c -->", "<?pi x?>", "<![CDATA[x<y]]>", '<!DOCTYPE a [<!ENTITY e "x">]>', "&e;", "\x00",
           "\udc80", "<", "</a>", "<b>", "<?xml version='1.0'?>", "<p:b>", ' xmlns:p="urn:p"',
           "]]>"]  # fmt: skip


def fast_and_careful(document: str | bytes, limits: XmlLimits) -> tuple[Outcome, Outcome]:
    fast = outcome(lambda: parse_document(document, limits=limits))
    careful = outcome(lambda: parse_document(document, limits=limits, fast_path=None))
    return fast, careful


def forms(document: str) -> list[str | bytes]:
    """The text, its UTF-8 bytes (the declared encoding then counts) and its bytes in that encoding."""
    result: list[str | bytes] = [document, document.encode("utf-8", "surrogatepass")]
    for encoding in ("ISO-8859-1", "windows-1252"):
        if f'encoding="{encoding}"' in document:
            with contextlib.suppress(UnicodeEncodeError):  # not every character has a byte there
                result.append(document.encode(encoding))
    return result


@settings(max_examples=200, deadline=None)
@given(document=documents(clean=False), max_depth=st.integers(1, 8))
def test_any_document_gives_what_the_careful_path_gives(document: str, max_depth: int) -> None:
    for form in forms(document):
        fast, careful = fast_and_careful(form, XmlLimits(max_depth=max_depth))
        assert fast == careful


@settings(max_examples=120, deadline=None)
@given(document=documents(clean=True), data=st.data())
def test_a_mutilated_document_gives_what_the_careful_path_gives(document: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(document)))
    mutilated = document[:position] + data.draw(st.sampled_from(HOSTILE)) + document[position:]
    for form in forms(mutilated):
        fast, careful = fast_and_careful(form, XmlLimits())
        assert fast == careful


@settings(max_examples=120, deadline=None)
@given(document=documents(clean=True))
def test_the_fast_path_takes_every_clean_document_the_careful_path_accepts(document: str) -> None:
    limits = XmlLimits(max_depth=1000)
    for form in forms(document):
        careful = outcome(functools.partial(parse_document, form, limits=limits, fast_path=None))
        assume(isinstance(careful, list))
        fast = fast_tree(form.lstrip() if isinstance(form, str) else form, limits.max_depth)
        assert fast is not None
        assert shape(fast) == careful


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("<!DOCTYPE a><a/>", "finesse_xml_forbidden"),
        ('<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', "finesse_xml_forbidden"),
        ('<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>', "finesse_xml_forbidden"),
        ('<?xml version="1.0"?><!DOCTYPE a SYSTEM "http://127.0.0.1/x.dtd"><a/>', "finesse_xml_forbidden"),
        ("<a><?pi x?></a>", "finesse_xml_forbidden"),
        ('<?xml-stylesheet href="x"?><a/>', "finesse_xml_forbidden"),
        ("<a><!-- c --></a>", "finesse_xml_forbidden"),
        # In UTF-16 "<!" and "<?" are not those bytes.
        ("<a><!-- c --></a>".encode("utf-16"), "finesse_xml_forbidden"),
        ("<a><?pi x?></a>".encode("utf-16-le"), "finesse_xml_forbidden"),
        ("<a>" * 25 + "</a>" * 25, "finesse_xml_too_deep"),
        ("<a><b>" + "x" * 2000 + "</b></a>", "finesse_xml_too_large"),
        (b"<a>\xff</a>", "finesse_xml_malformed"),
        (b"<a>\xc3</a>", "finesse_xml_malformed"),
        ("<a>\ud800</a>", "finesse_xml_malformed"),
        ("<a><b></a>", "finesse_xml_malformed"),
        ("<a>", "finesse_xml_malformed"),
        ("<a/><b/>", "finesse_xml_malformed"),
        ("<a>&lol;</a>", "finesse_xml_malformed"),
        ("<a>\x00</a>", "finesse_xml_malformed"),
        ("", "finesse_xml_malformed"),
        (b"  <?xml version='1.0'?><a/>", "finesse_xml_malformed"),
        ("<a/><?xml version='1.0'?>", "finesse_xml_malformed"),
    ],
)
def test_hostile_documents_fail_as_on_the_careful_path(document: str | bytes, reason: str) -> None:
    fast, careful = fast_and_careful(document, XmlLimits(max_bytes=1000))
    assert isinstance(careful, tuple)
    assert careful[1] == reason
    assert fast == careful


@pytest.mark.parametrize(
    ("document", "tags", "text"),
    [
        # CDATA is allowed, but left to the careful path.
        ("<a><![CDATA[x<y]]></a>", ["a"], "x<y"),
        # Text is UTF-8 whatever the declaration says; bytes follow the declaration.
        ('<?xml version="1.0" encoding="ISO-8859-1"?><a>é</a>', ["a"], "é"),
        ('<?xml version="1.0" encoding="ISO-8859-1"?><a>é</a>'.encode(), ["a"], "Ã©"),
        ('<?xml version="1.0" encoding="ISO-8859-1"?><a>é</a>'.encode("latin-1"), ["a"], "é"),
        ("<a>é</a>".encode("utf-16"), ["a"], "é"),
        # Whitespace before the declaration is dropped from text (notification text has it).
        ("\n   <?xml version='1.0'?><Update/>", ["update"], None),
        # An unbound prefix: the careful parser does not process namespaces, the C parser refuses it.
        ("<x:A><B/></x:A>", ["a", "b"], None),
        ('<P:Update xmlns:P="urn:u" P:id="1" xml:lang="en"><Data/></P:Update>', ["update", "data"], None),
        ('<a xmlns="a}b"/>', ["a"], None),
        ("<a>&#65;&lt;&gt;&amp;&quot;&apos;&#x1F600;\r\n</a>", ["a"], "A<>&\"'\U0001f600\n"),
    ],
)
def test_edge_cases_parse_as_on_the_careful_path(
    document: str | bytes, tags: list[str], text: str | None
) -> None:
    fast, careful = fast_and_careful(document, XmlLimits())
    assert fast == careful
    assert isinstance(careful, list)
    tree = careful
    assert [tag for tag, *_ in tree] == tags
    assert all(attributes == {} for _, attributes, *_ in tree)
    assert tree[0][2] == text


def test_attributes_are_dropped_on_the_fast_path_too() -> None:
    document = '<Update a="1"><data xmlns:p="urn:p" p:b="2"/></Update>'
    root = fast_tree(document, 24)
    assert root is not None
    assert [(element.tag, element.attrib) for element in root.iter()] == [("update", {}), ("data", {})]


def test_depth_at_the_limit_passes_and_one_more_fails() -> None:
    limits = XmlLimits(max_depth=5)
    assert fast_tree("<a>" * 5 + "</a>" * 5, limits.max_depth) is not None
    assert fast_tree("<a>" * 6 + "</a>" * 6, limits.max_depth) is None
    wide_then_deep = "<a>" + "<b/>" * 30 + "<c><d><e><f/></e></d></c></a>"  # many parents' worth of elements
    assert fast_tree(wide_then_deep, limits.max_depth) is not None
    assert fast_tree("<a>" + "<b><c/></b>" * 30 + "<c><d><e><f><g/></f></e></d></c></a>", 5) is None


@pytest.mark.parametrize("name", capture_names())
def test_captured_notifications_take_the_fast_path_and_parse_identically(name: str) -> None:
    text = notification_text(name)
    taken: list[Element | None] = []

    def recording_fast_path(document: str | bytes, max_depth: int) -> Element | None:
        tree = fast_tree(document, max_depth)
        taken.append(tree)
        return tree

    root = parse_document(text, fast_path=recording_fast_path)
    assert len(taken) == 1
    assert taken[0] is root  # the tree returned is the one the fast path built
    assert shape(root) == shape(parse_document(text, fast_path=None))
    assert root.tag == "update"
    assert shape(parse_document(text.encode())) == shape(root)
