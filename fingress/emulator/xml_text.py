"""XML written as text: escaping, and the elements Finesse's notifications are made of (elements holding
either text or other elements, attributes only on the XMPP wrapper).

Building an ElementTree and serialising it costs several times more than joining strings, and the
emulator writes one Dialog document per published call-data change. The output is what
``ElementTree.tostring`` writes for the same tree (``<tag />`` for an empty element), except that a
carriage return in text is written as ``&#13;`` (ElementTree writes it raw, and an XML parser then reads
it as a line feed).

Text must consist of XML characters: like ElementTree, these functions do not check for control
characters, which no XML document can carry.
"""

from __future__ import annotations

from connector.xmpp.xmlstream import escape_attribute, escape_text

__all__ = ["escape_attribute", "escape_text", "leaf", "parent"]


def leaf(tag: str, text: str) -> str:
    """``<tag>text</tag>``, or ``<tag />`` when ``text`` is empty."""
    if not text:
        return f"<{tag} />"
    return f"<{tag}>{escape_text(text)}</{tag}>"


def parent(tag: str, content: str) -> str:
    """``<tag>content</tag>`` around already written children, or ``<tag />`` when there are none."""
    if not content:
        return f"<{tag} />"
    return f"<{tag}>{content}</{tag}>"
