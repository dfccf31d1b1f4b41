"""The one place that decides what untrusted XML may not contain, for every expat parser the connector
builds (XMPP streams in :mod:`connector.xmpp.xmlstream`, Finesse documents in
:mod:`connector.finesse.xmltree`): no DTD (so no entity can be declared, expanded or fetched), no notation,
no processing instruction, no comment. Each parser passes the callback that raises its own error.

It also says when that care is moot (:func:`holds_only_elements_and_text`): a document with no ``<!`` and
no ``<?`` but a leading XML declaration cannot hold anything refused, so it may be handed to
``xml.etree``'s C parser, which builds the whole tree without calling Python once per element (the
careful parsers' callbacks are most of their cost).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import chain
from typing import NoReturn
from xml.etree.ElementTree import Element
from xml.parsers import expat

_XML_WHITESPACE = (b" ", b"\t", b"\r", b"\n")


def refuse_declarations(parser: expat.XMLParserType, refuse: Callable[..., NoReturn]) -> None:
    """Make ``parser`` call ``refuse`` (which must raise) on anything beyond elements and text."""
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.NotationDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SkippedEntityHandler = refuse
    parser.ProcessingInstructionHandler = refuse
    parser.CommentHandler = refuse


def holds_only_elements_and_text(document: bytes) -> bool:
    """Whether ``document`` cannot hold anything :func:`refuse_declarations` refuses: no ``<!`` (DOCTYPE,
    ENTITY, comment; CDATA sections too, which are merely left to the careful parser) and no ``<?`` but a
    leading XML declaration. May answer ``False`` for an innocent document, never ``True`` for a guilty one.
    """
    # In UTF-16 and UTF-32, which expat detects by themselves, "<!" is not the bytes "<!": every such
    # document that expat could parse has a NUL byte. In every other encoding expat reads (UTF-8, Latin-1
    # and the single-byte codecs it requires to agree with ASCII), "<", "!" and "?" are their ASCII bytes.
    if b"\0" in document:
        return False
    start = 0
    # "<?xml" and whitespace at the very start is the XML declaration, not a processing instruction
    # ("<?xml-stylesheet" is one); whatever it holds must pass expat's strict declaration grammar.
    if document.startswith(b"<?xml") and document[5:6] in _XML_WHITESPACE:
        start = document.find(b"?>") + 2
        if start == 1:
            return False
    # A one-byte search is memchr, ~20 times faster than a two-byte one on text full of "<": look for
    # "<!" and "<?" only in the rare document that has a "!" or a "?" at all.
    if document.find(b"!", start) != -1 and document.find(b"<!", start) != -1:
        return False
    return document.find(b"?", start) == -1 or document.find(b"<?", start) == -1


def deeper_than(root: Element, max_depth: int) -> bool:
    """Whether any element of the tree lies deeper than ``max_depth`` (the root is at depth 1)."""
    # Every loop here runs in C. A bound first: all elements of a path from the root but its last have
    # children, so the tree is at most (elements with children + 1) deep; a notification passes here.
    child_counts = list(map(len, root.iter()))
    if len(child_counts) - child_counts.count(0) < max_depth:
        return False
    depth, level = 1, [root]
    while level:
        if depth > max_depth:
            return True
        parents: Iterable[Element] = filter(len, level)  # a leaf's empty iterator is not worth making
        level = list(chain.from_iterable(parents))
        depth += 1
    return False
