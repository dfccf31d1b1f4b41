"""SASLprep (RFC 4013): the string preparation SCRAM applies to user names and passwords."""

from __future__ import annotations

import stringprep
import unicodedata

_PROHIBITED = (
    stringprep.in_table_c12,  # non-ASCII space characters
    stringprep.in_table_c21_c22,  # control characters
    stringprep.in_table_c3,  # private use
    stringprep.in_table_c4,  # non-character code points
    stringprep.in_table_c5,  # surrogate codes
    stringprep.in_table_c6,  # inappropriate for plain text
    stringprep.in_table_c7,  # inappropriate for canonical representation
    stringprep.in_table_c8,  # change display properties / deprecated
    stringprep.in_table_c9,  # tagging characters
)


def saslprep(text: str) -> str:
    """Prepare ``text`` as a "query" string (unassigned code points allowed).

    Raises :class:`ValueError` for prohibited characters or broken bidirectional text; the message never
    contains the input (it may be a password).
    """
    mapped = "".join(
        " " if stringprep.in_table_c12(char) else char for char in text if not stringprep.in_table_b1(char)
    )
    prepared = unicodedata.normalize("NFKC", mapped)
    for char in prepared:
        if any(table(char) for table in _PROHIBITED):
            raise ValueError("prohibited character")
    if any(stringprep.in_table_d1(char) for char in prepared):
        # RFC 3454 §6: right-to-left text must not mix in left-to-right characters and must start and end RTL.
        if any(stringprep.in_table_d2(char) for char in prepared):
            raise ValueError("mixed bidirectional text")
        if not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            raise ValueError("bidirectional text must start and end right-to-left")
    return prepared
