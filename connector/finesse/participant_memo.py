"""Remembering a session's call participants between dialog notifications, so that an update which leaves
them as they were does not parse them again.

A dialog notification carries the whole dialog. When an IVR or a CRM script changes call data, only the
variables differ from one update to the next: the participants (about half of the document, and more than
half of what reading it costs) come back character for character. :class:`ParticipantMemo` keeps, per
agent session, the exact text of the last few ``<Participant>`` elements with the value each one parsed
to. :func:`~connector.finesse.parse.parse_update` then parses the document with every remembered
participant replaced by a stand-in (``<Participant>`` holding a backquote and an index), and
puts the remembered value in the stand-in's place.

Why that gives what the whole document gives: the stand-in and the text it replaces are each one complete
element named ``Participant``. In a document without namespace declarations, DTD, comments, CDATA or
processing instructions, what an element's content parses to does not depend on what surrounds it, and
swapping one complete element for another leaves the rest of the document's tokens as they were (every
``<`` in such a document opens a tag). The memo is used only on such documents, only for a stand-in that
the dialog reader finds among a dialog's participants (where the remembered element's depth is checked
against the limit as the whole document's would be), and when the parse with stand-ins fails in any way
the document is parsed again as it came: errors always come from that plain parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from connector.finesse.models import Participant

# What a stand-in's text starts with; a document holding it is not stood in for. ASCII, and rare in
# Finesse's text: a non-ASCII character would make Python store the whole stood-in document with two bytes
# a character, and encoding it for the parser would cost more than the memo saves.
MARK = "`"
_OPEN = "<Participant>"
_CLOSE = "</Participant>"
# Longer elements are not remembered (a participant is ~400 characters): the memo's memory stays small.
MAX_REMEMBERED_CHARS = 2048
# Any element the reader takes for a participant: the name in any case, with or without a prefix (the
# careful parser keeps only the local name), with or without attributes ("<participants" is not one).
_ANY_PARTICIPANT_TAG = re.compile(r"<(?:[^\s/>:]+:)?participant[\s/>]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Known:
    participant: Participant
    height: int  # levels of elements from <Participant> down, itself included


class MemoReading:
    """One parse of one document: the remembered participants its stand-ins refer to, and what the dialog
    reader did with stand-ins and with the participants it read afresh."""

    __slots__ = ("_known", "_max_depth", "_resolved", "_too_deep", "fresh")

    def __init__(self, known: list[_Known], max_depth: int) -> None:
        self._known = known
        self._max_depth = max_depth
        self._resolved = 0
        self._too_deep = False
        # The participants read from the document itself, with their elements, in document order; None in
        # place of each one that was a stand-in.
        self.fresh: list[tuple[Element, Participant] | None] = []

    @property
    def complete(self) -> bool:
        """Every stand-in was found where a dialog's participant is read, within the depth limit."""
        return self._resolved == len(self._known) and not self._too_deep

    def stood_in(self, element: Element, depth: int) -> Participant | None:
        """The remembered participant ``element`` (at ``depth``, the root at 1) stands in for; ``None``
        when it is a participant of the document itself."""
        text = element.text
        if not self._known or text is None or not text.startswith(MARK) or len(element):
            return None
        known = self._known[int(text[1:])]  # the stand-in is ours: no document holds MARK
        self._resolved += 1
        if depth + known.height - 1 > self._max_depth:
            self._too_deep = True
        self.fresh.append(None)
        return known.participant

    def read(self, element: Element, participant: Participant) -> Participant:
        self.fresh.append((element, participant))
        return participant


@dataclass(frozen=True, slots=True)
class StoodIn:
    document: str
    known: list[_Known]


def _usable(document: str) -> bool:
    # No namespace declaration, no DTD / comment / CDATA ("<!"), no processing instruction or declaration
    # ("<?"), and no MARK: the conditions under which an element reads the same wherever it stands.
    # A one-character search is memchr, far faster than a two-character one on text full of "<".
    return (
        MARK not in document
        and "xmlns" not in document
        and ("!" not in document or "<!" not in document)
        and ("?" not in document or "<?" not in document)
    )


def _height(element: Element) -> int:
    return 1 + max(map(_height, element), default=0)


class ParticipantMemo:
    """The participants last read by one agent session, by the exact text of their elements."""

    __slots__ = ("_capacity", "_known")

    def __init__(self, capacity: int = 6) -> None:
        self._capacity = capacity
        self._known: dict[str, _Known] = {}

    def __len__(self) -> int:
        return len(self._known)

    def stand_in(self, document: str) -> StoodIn | None:
        """``document`` with every remembered participant replaced by a stand-in, and what they stand
        for; ``None`` when nothing remembered is in it or the memo may not be used on it."""
        if not self._known or (start := document.find(_OPEN)) == -1 or not _usable(document):
            return None
        pieces: list[str] = []
        known: list[_Known] = []
        position = 0
        while start != -1:
            end = document.find(_CLOSE, start)
            if end == -1:
                break
            end += len(_CLOSE)
            entry = self._known.get(document[start:end])
            if entry is not None:
                pieces.append(document[position:start])
                pieces.append(f"{_OPEN}{MARK}{len(known)}{_CLOSE}")
                known.append(entry)
                position = end
            start = document.find(_OPEN, end)
        if not known:
            return None
        pieces.append(document[position:])
        return StoodIn("".join(pieces), known)

    def learn(self, document: str, reading: MemoReading) -> None:
        """Remember the participants ``reading`` read afresh from ``document`` (as it came), when each can
        be told apart in its text: every participant element in the document read (in document order) and
        spelled ``<Participant>``."""
        if not any(reading.fresh) or not _usable(document):
            return
        # Every element named participant is one the dialog reader read, in document order, and each
        # starts with the exact "<Participant>" searched for below: then the n-th one found is the n-th read.
        count = len(reading.fresh)
        if document.count(_OPEN) != count or len(_ANY_PARTICIPANT_TAG.findall(document)) != count:
            return
        start = -1
        for entry in reading.fresh:
            start = document.find(_OPEN, start + 1)
            if entry is None:
                continue
            # No participant inside another (the counts agree): the first end tag after it is its own.
            end = document.find(_CLOSE, start) + len(_CLOSE)
            text = document[start:end]
            if len(text) > MAX_REMEMBERED_CHARS or text in self._known:
                continue
            if len(self._known) >= self._capacity:
                del self._known[next(iter(self._known))]  # the oldest goes
            element, participant = entry
            self._known[text] = _Known(participant, _height(element))
