"""holds_only_elements_and_text: the scan that lets a document skip the careful parser's refusals."""

from __future__ import annotations

import pytest

from connector.expat_hardening import holds_only_elements_and_text


@pytest.mark.parametrize(
    ("document", "plain"),
    [
        (b"<a>x</a>", True),
        (b'<?xml version="1.0"?><a/>', True),
        (b"<?xml\tversion='1.0' encoding='UTF-8'?>\n<a>Why? Because! a=b</a>", True),
        (b"<a>&lt;!-- not a comment --&gt; &lt;?not a pi?&gt;</a>", True),
        (b"<a><!-- c --></a>", False),
        (b"<a><![CDATA[x]]></a>", False),  # allowed, but left to the careful parser
        (b"<!DOCTYPE a><a/>", False),
        (b"<a><?pi x?></a>", False),
        (b'<?xml-stylesheet href="x"?><a/>', False),  # a processing instruction, not the declaration
        (b'<?xml version="1.0"?><?pi x?><a/>', False),
        (b'<a/><?xml version="1.0"?>', False),
        (b' <?xml version="1.0"?><a/>', False),  # a declaration only counts at the very start
        (b"<?xml version='1.0'", False),  # never closed
        (b"\xef\xbb\xbf<?xml version='1.0'?><a/>", False),  # after a byte-order mark: left to the careful one
        ("<a><!-- c --></a>".encode("utf-16"), False),  # "<!" is no longer those bytes
        ("<a>x</a>".encode("utf-16-le"), False),
    ],
)
def test_only_documents_without_declarations_pass(document: bytes, plain: bool) -> None:
    assert holds_only_elements_and_text(document) is plain
