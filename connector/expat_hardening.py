"""The one place that decides what untrusted XML may not contain, for every expat parser the connector
builds (XMPP streams in :mod:`connector.xmpp.xmlstream`, Finesse documents in
:mod:`connector.finesse.xmltree`): no DTD (so no entity can be declared, expanded or fetched), no notation,
no processing instruction, no comment. Each parser passes the callback that raises its own error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn
from xml.parsers import expat


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
