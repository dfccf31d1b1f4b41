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


def escape_text(value: str) -> str:
    """``value`` as element content: ``&``, ``<``, ``>`` and carriage return as references."""
    # Testing before replacing skips the copy in the common case of nothing to escape.
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#13;")
    return value


def escape_attribute(value: str) -> str:
    """``value`` inside a double-quoted attribute; whitespace other than the space is written as a
    character reference, because a parser normalises it to a space otherwise."""
    value = escape_text(value)
    if '"' in value:
        value = value.replace('"', "&quot;")
    if "\n" in value:
        value = value.replace("\n", "&#10;")
    if "\t" in value:
        value = value.replace("\t", "&#9;")
    return value


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
