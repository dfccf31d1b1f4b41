"""Hardened parsing of Finesse XML into element trees that are easy to read leniently.

Everything Finesse sends is untrusted: documents are parsed by expat with every DTD, entity declaration,
external reference, processing instruction and comment refused (what defusedxml refuses, without its pure
Python parser: expat's callbacks feed the C tree builder directly, about three times faster on the
connector's hot path), bounded in size and depth, and any failure becomes a
:class:`~connector.finesse.errors.FinesseProtocolError`. Finesse spells element names differently across
APIs and releases (``<User>`` in REST, ``<user>`` in notifications), so the tree returned here has every
tag reduced to its lower-case local name and attributes dropped (Finesse uses none); the reading helpers
below look names up in lower case and give defaults for what is missing.

Most documents hold nothing to refuse; those are parsed by ``xml.etree``'s C parser alone and normalised
afterwards (:func:`fast_tree`), which is faster than a Python callback per element. Any other document, and
any that the fast path cannot parse, takes the careful path, which alone decides what is wrong.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn
from xml.etree.ElementTree import Element, TreeBuilder, XMLParser
from xml.parsers import expat

from connector.expat_hardening import deeper_than, holds_only_elements_and_text, refuse_declarations
from connector.finesse.errors import FinesseProtocolError


@dataclass(frozen=True, slots=True)
class XmlLimits:
    """Bounds applied to every document before and while it is parsed."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 24


DEFAULT_LIMITS = XmlLimits()
_NO_ATTRIBUTES: dict[str, str] = {}


class _TooDeep(Exception):
    pass


class _Forbidden(Exception):
    """A DTD, entity, notation, processing instruction or comment: refused before anything expands."""


def _forbidden(*_args: object) -> NoReturn:
    raise _Forbidden


@functools.lru_cache(maxsize=512)  # Finesse uses a few dozen names; hostile ones only churn the cache
def _local_name(tag: str) -> str:
    # The careful parser (no namespace processing) reports ``prefix:local``, the fast one ``{uri}local``;
    # either way only the local name is kept. No name holds "}", so careful names pass the first step
    # unchanged, and a namespace-processed local name holds no ":" for the second.
    return tag.rpartition("}")[2].rpartition(":")[2].lower()


FastPath = Callable[[str | bytes, int], Element | None]
"""``(document, max_depth)`` → the normalised tree, or ``None`` to let the careful parser decide."""


def fast_tree(document: str | bytes, max_depth: int) -> Element | None:
    """The tree :func:`parse_document` would return, built by ``xml.etree``'s C parser, or ``None`` when
    the document may hold something refused, does not parse, or is deeper than ``max_depth``."""
    if isinstance(document, str):
        try:
            # What expat does with text: UTF-8, whatever the XML declaration says.
            raw, encoding = document.encode("utf-8"), "utf-8"
        except UnicodeEncodeError:  # lone surrogates: the careful parser words the error
            return None
    else:
        raw, encoding = document, None
    if not holds_only_elements_and_text(raw):
        return None
    # Namespace processing cannot be turned off here, so names come as {uri}local; it only refuses more
    # than the careful parser (unbound prefixes, say), and what it refuses goes the careful way.
    parser = XMLParser(target=TreeBuilder(), encoding=encoding)  # noqa: S314 - nothing to refuse, see above
    try:
        parser.feed(raw)
        root: Element = parser.close()
    except Exception:  # any failure: the careful parser words the error
        return None
    if deeper_than(root, max_depth):
        return None
    # One pass in Python (~80 ns an element) is cheaper than the careful parser's start callback.
    for element in root.iter():
        element.tag = _local_name(element.tag)
    # Finesse sends no attributes, and an attribute needs a "=" (a memchr); else look for them in C (keys()
    # of an element without any makes no dict, unlike .attrib). The careful parser records none.
    if b"=" in raw and any(map(Element.keys, root.iter())):
        for element in root.iter():
            element.attrib.clear()
    return root


def _new_parser(builder: TreeBuilder, max_depth: int) -> expat.XMLParserType:
    depth = 0

    def start(tag: str, _attributes: object) -> None:
        nonlocal depth
        depth += 1
        if depth > max_depth:
            raise _TooDeep
        builder.start(_local_name(tag), _NO_ATTRIBUTES)

    def end(tag: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(tag)

    parser = expat.ParserCreate()
    refuse_declarations(parser, _forbidden)
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    return parser


def parse_document(
    document: str | bytes, *, limits: XmlLimits = DEFAULT_LIMITS, fast_path: FastPath | None = fast_tree
) -> Element:
    """Parse one untrusted document into a normalised tree, or raise ``FinesseProtocolError``.

    ``fast_path`` is tried first (``None``: the careful parser only); whatever it declines, the careful
    parser parses, so trees and errors do not depend on it.
    """
    if _too_large(document, limits.max_bytes):
        raise FinesseProtocolError("finesse_xml_too_large", f"more than {limits.max_bytes} bytes")
    if isinstance(document, str):
        # Notification text starts with the whitespace of the enclosing stanza; an XML declaration is
        # only valid at the very start, so drop what precedes it.
        document = document.lstrip()
    if fast_path is not None:
        fast = fast_path(document, limits.max_depth)
        if fast is not None:
            return fast
    return _parse_carefully(document, limits.max_depth)


def _parse_carefully(document: str | bytes, max_depth: int) -> Element:
    builder = TreeBuilder()
    parser = _new_parser(builder, max_depth)
    try:
        parser.Parse(document, True)
        root: Element = builder.close()
    except _TooDeep:
        raise FinesseProtocolError("finesse_xml_too_deep", f"deeper than {max_depth}") from None
    except _Forbidden:
        raise FinesseProtocolError(
            "finesse_xml_forbidden", "no DTD, entity, processing instruction or comment"
        ) from None
    except expat.ExpatError as exc:
        raise FinesseProtocolError(
            "finesse_xml_malformed", expat.ErrorString(exc.code) or "malformed"
        ) from None
    except (UnicodeError, ValueError) as exc:
        raise FinesseProtocolError("finesse_xml_malformed", _first_line(exc)) from None
    return root


def _too_large(document: str | bytes, max_bytes: int) -> bool:
    if isinstance(document, bytes) or len(document) > max_bytes:
        return len(document) > max_bytes
    # A character takes 1 to 4 bytes in UTF-8: only encode (a copy) when the length cannot decide.
    if len(document) * 4 <= max_bytes:
        return False
    return len(document.encode("utf-8", "surrogatepass")) > max_bytes


def _first_line(exc: Exception) -> str:
    return str(exc).split("\n", 1)[0][:200]


def expect_root(root: Element, *names: str) -> Element:
    """``root`` itself when its tag is one of ``names`` (lower case), else ``finesse_xml_unexpected``."""
    if root.tag not in names:
        raise FinesseProtocolError("finesse_xml_unexpected", f"expected <{names[0]}>, got <{root.tag[:40]}>")
    return root


def child(parent: Element, name: str) -> Element | None:
    """The first child called ``name`` (lower case), if any."""
    return parent.find(name)


def children(parent: Element | None, name: str) -> list[Element]:
    """Every child called ``name`` (lower case); none when ``parent`` is missing."""
    return [] if parent is None else parent.findall(name)


def first_children(parent: Element) -> dict[str, Element]:
    """Each child by name, the first one of a name winning (as :func:`child` does): for reading several
    fields of one element with one pass over its children."""
    return {element.tag: element for element in reversed(parent)}


def own_text(element: Element) -> str:
    """The element's own text without surrounding whitespace (``<action> HOLD </action>`` → ``HOLD``)."""
    return "" if element.text is None else element.text.strip()


def raw_text(parent: Element, name: str) -> str:
    """The exact text of child ``name`` ("" when missing or empty): for labels, messages, variables."""
    element = parent.find(name)
    return "" if element is None or element.text is None else element.text


def text(parent: Element, name: str) -> str:
    """The text of child ``name`` without surrounding whitespace: for ids, states and numbers."""
    return raw_text(parent, name).strip()


def integer(parent: Element, name: str) -> int | None:
    """Child ``name`` as an integer, ``None`` when missing or empty; garbage is a protocol error."""
    value = text(parent, name)
    if not value:
        return None
    try:
        return int(value, 10)
    except ValueError:
        raise FinesseProtocolError("finesse_xml_unexpected", f"<{name}> is not an integer") from None


def boolean(parent: Element, name: str, *, default: bool = False) -> bool:
    """Child ``name`` as ``true``/``false`` in any case; anything else gives ``default``."""
    value = text(parent, name).lower()
    return {"true": True, "false": False}.get(value, default)


def last_uri_segment(uri: str) -> str:
    """``/finesse/api/ReasonCode/16`` → ``16``; ids in Finesse lists are only given inside URIs."""
    return uri.rstrip("/").rpartition("/")[2]
