"""Random XML documents for comparing the fast and the careful parsers, and how to compare their results.

``clean`` documents are what the fast paths exist for (every prefix bound, one URI per prefix, no namespace
URI the careful XMPP parser refuses); the others add what either parser may refuse: unbound prefixes,
odd namespace URIs, ``]]>`` in text, empty prefix bindings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from hypothesis import strategies as st

from edge.tunnel.errors import ProtocolError

# A tree as (tag, attributes, text, tail, number of children) in document order: equal lists, equal trees.
Shape = list[tuple[str, dict[str, str], str | None, str | None, int]]
Failure = tuple[str, str, str]  # the error's class, reason and detail
Outcome = Shape | Failure


def shape(root: Element) -> Shape:
    return [(e.tag, dict(e.attrib), e.text, e.tail, len(e)) for e in root.iter()]


def outcome(parse: Callable[[], Element]) -> Outcome:
    """The tree's shape, or what a caller can tell of the error."""
    try:
        return shape(parse())
    except ProtocolError as error:
        return (type(error).__name__, error.reason, error.detail)


@dataclass(frozen=True)
class Node:
    name: str
    prefix: str  # "" for none
    default_namespace: str | None  # an xmlns="…" declaration here, if any
    declared: tuple[tuple[str, str], ...]  # xmlns:prefix="uri" declarations here
    attributes: tuple[tuple[str, str, str], ...]  # (prefix, name, value)
    text: str
    children: tuple[tuple[Node, str], ...]  # (child, its tail)


PREFIX_URIS = {"p": "urn:p", "q": "urn:q:Q", "fin": "http://jabber.org/protocol/pubsub#event"}
CLEAN_URIS = ["jabber:client", "urn:xmpp:push:0", "urn:a", "", "http://example.com/é?x=1#y", "tab&#9;in"]
# A space (also one made by attribute-value normalisation or a character reference) is refused in a URI by
# the XMPP parser, whose namespace separator it is; "}", the C parser's separator, by the C parser.
ODD_URIS = ["a b", "x&#32;y", "line\nbreak", "a}b", "urn:p"]

NAMES = st.one_of(
    st.sampled_from(
        ["Update", "data", "user", "Dialog", "callVariable", "CallVariable", "x-y", "_a", "é", "Ж"]
    ),
    st.from_regex(
        r"[A-Za-z_\u00c0-\u00d6\u00d8-\u00f6][A-Za-z0-9_.\-\u00b7\u00c0-\u00d6]{0,5}", fullmatch=True
    ),
)
# Text as expat reads it: references of every kind, line ends it normalises, markup characters that may
# stand alone, and any other character XML allows.
PIECES = st.sampled_from(
    ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#10;", "&#13;", "&#x9;", "&#x1F600;", "&#233;",
     "&#xD7FF;", "\r\n", "\r", "\n", " ", "\t", ">", "'", "]]", "?", "!", "=", "}", "{", ":", "\u00e9",
     "\U0001f600"]
)  # fmt: skip
CHARACTERS = st.text(
    st.characters(exclude_categories=("Cs", "Cc"), exclude_characters='<&"\ufffe\uffff'), max_size=6
)
TEXT = st.lists(st.one_of(PIECES, CHARACTERS), max_size=6).map("".join)  # no raw "<", "&" or '"'
CLEAN_TEXT = TEXT.filter(lambda text: "]]>" not in text)  # "]]>" may not stand in text


def trees(*, clean: bool) -> st.SearchStrategy[Node]:
    prefixes = st.sampled_from(["", "", "p", "q", "fin"])
    uris = st.sampled_from(CLEAN_URIS if clean else CLEAN_URIS + ODD_URIS)
    declarations = st.lists(
        st.tuples(st.sampled_from(list(PREFIX_URIS)), uris), max_size=2, unique_by=lambda pair: pair[0]
    ).map(tuple)
    text = CLEAN_TEXT if clean else TEXT
    attributes = st.lists(
        st.tuples(st.sampled_from(["", "", "p", "q", "xml"]), NAMES, TEXT),
        max_size=3,
        unique_by=lambda attribute: attribute[:2],
    ).map(tuple)

    def node(children: st.SearchStrategy[tuple[tuple[Node, str], ...]]) -> st.SearchStrategy[Node]:
        return st.builds(
            Node,
            name=NAMES,
            prefix=prefixes,
            default_namespace=st.none() | uris,
            declared=st.just(()) if clean else declarations,
            attributes=attributes,
            text=text,
            children=children,
        )

    leaf = node(st.just(()))
    return st.recursive(
        leaf, lambda inner: node(st.lists(st.tuples(inner, text), max_size=4).map(tuple)), max_leaves=15
    )


def serialize(node: Node, *, clean: bool) -> str:
    """The node as XML text; in clean documents every prefix used is declared where it is first used."""
    parts: list[str] = []
    _write(node, frozenset(), clean, parts)
    return "".join(parts)


def _write(node: Node, scope: frozenset[str], clean: bool, parts: list[str]) -> None:
    qname = f"{node.prefix}:{node.name}" if node.prefix else node.name
    declared = dict(node.declared)
    if clean:
        used = {node.prefix} | {prefix for prefix, _, _ in node.attributes}
        declared.update({prefix: PREFIX_URIS[prefix] for prefix in used - scope - {"", "xml"}})
    parts.append(f"<{qname}")
    if node.default_namespace is not None:
        parts.append(f' xmlns="{node.default_namespace}"')
    parts.extend(f' xmlns:{prefix}="{uri}"' for prefix, uri in declared.items())
    for prefix, name, value in node.attributes:
        parts.append(f' {prefix}:{name}="{value}"' if prefix else f' {name}="{value}"')
    if not node.text and not node.children:
        parts.append("/>")
        return
    parts.append(">" + node.text)
    inner = scope | declared.keys()
    for child, tail in node.children:
        _write(child, inner, clean, parts)
        parts.append(tail)
    parts.append(f"</{qname}>")


DECLARATIONS = st.sampled_from(
    [
        "",
        "",
        '<?xml version="1.0"?>',
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<?xml version="1.0" encoding="utf-8" standalone="yes"?>',
        '<?xml version="1.0" encoding="ISO-8859-1"?>',
        '<?xml\tversion="1.0"\nencoding="windows-1252"?>',
    ]
)
WHITESPACE = st.sampled_from(["", "", "\n", " \n\t", "\r\n"])


@st.composite
def documents(draw: st.DrawFn, *, clean: bool) -> str:
    """A whole document: an optional XML declaration, the tree and whitespace around it (in a clean
    document, never before the declaration, where only ``parse_document``'s text input tolerates it)."""
    declaration = draw(DECLARATIONS)
    leading = "" if clean and declaration else draw(WHITESPACE)
    body = serialize(draw(trees(clean=clean)), clean=clean)
    return leading + declaration + draw(WHITESPACE) + body + draw(WHITESPACE)
