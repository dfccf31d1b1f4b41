"""The real Finesse 12.5 notifications in /work/shared/finesse-captures, as the XMPP layer hands them over."""

from __future__ import annotations

from defusedxml import ElementTree

from tests.support.captures import CAPTURE_FILES, CAPTURES_DIR

CAPTURES = CAPTURES_DIR  # the shared captures (tests/support/captures.py)


def capture_names() -> list[str]:
    return [path.name for path in CAPTURE_FILES]


def notification_text(name: str) -> str:
    """The text of the capture's ``<notification>``: the (unescaped) Update document, byte for byte."""
    stanza = ElementTree.fromstring((CAPTURES / name).read_bytes(), forbid_dtd=True)
    for element in stanza.iter():
        if element.tag.rpartition("}")[2] == "notification":
            text: str = element.text or ""
            return text
    raise AssertionError(f"{name} has no <notification>")
