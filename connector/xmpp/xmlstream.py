"""Hardened, incremental XML for XMPP: stream parsing, frame parsing and serialisation (sans-I/O).

XMPP over TCP/TLS (RFC 6120) is one long XML document whose root is ``<stream:stream>``; every direct
child of the root is a stanza. XMPP over WebSocket (RFC 7395) sends every stanza, ``<open/>`` and
``<close/>`` as a document of its own. Both are untrusted input, so the parsers here:

* accept no DTD, no entity declaration, no processing instruction and no comment (RFC 6120 §11.1
  "restricted XML"): they fail with the stream-error condition ``restricted-xml``;
* bound every stanza's size and nesting depth (``policy-violation``);
* never raise on hostile bytes: :class:`XmlStreamParser` turns every failure into a
  :class:`StreamFailed` event and reads nothing more; :func:`parse_frame` raises :class:`ProtocolError`
  whose ``reason`` is the stream-error condition.

:func:`parse_frame` first lets the careful parser's own expat feed ``xml.etree``'s C tree builder
(:func:`fast_frame`: no Python runs per element); a frame that this declines (refused, malformed, too deep)
is parsed again the careful way, which alone words the error.

Elements are :mod:`xml.etree.ElementTree` elements with Clark names (``{jabber:client}message``).
:func:`serialize` writes them back with default-namespace declarations only where the namespace
changes, which is what XMPP servers expect (no ``ns0:`` prefixes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn
from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat

from connector.expat_hardening import deeper_than, refuse_declarations
from edge.tunnel.errors import ProtocolError

XML_NS = "http://www.w3.org/XML/1998/namespace"

DEFAULT_MAX_STANZA_BYTES = 1 << 20
DEFAULT_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class StreamOpened:
    """The peer opened the stream (``<stream:stream>``); ``tag`` is its Clark name."""

    tag: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StanzaReceived:
    """A complete top-level element of the stream."""

    element: Element


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The peer closed the stream (``</stream:stream>``)."""


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """The input broke the rules; ``condition`` is the RFC 6120 stream-error condition to send."""

    condition: str
    text: str


StreamEvent = StreamOpened | StanzaReceived | StreamClosed | StreamFailed


class _Refused(Exception):
    """Raised inside expat callbacks to stop parsing with a stream-error condition."""

    def __init__(self, condition: str, text: str) -> None:
        super().__init__(text)
        self.condition = condition
        self.text = text


def _restricted(*_args: object) -> NoReturn:
    raise _Refused("restricted-xml", "no DTDs, entities, comments or processing instructions")


def _clark(name: str) -> str:
    # expat with namespace_separator=" " reports "uri local" for namespaced names.
    uri, sep, local = name.rpartition(" ")
    return f"{{{uri}}}{local}" if sep else name


def _new_expat() -> expat.XMLParserType:
    """expat as every XMPP parser here sets it up; only the element and text handlers differ."""
    parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
    refuse_declarations(parser, _restricted)
    parser.buffer_text = True
    parser.ordered_attributes = False
    return parser


class _TreeBuilder:
    """Builds elements from expat callbacks. Elements at ``stanza_depth`` are emitted when complete;
    shallower ones (the stream root) are reported as open/close."""

    def __init__(self, *, stanza_depth: int, max_depth: int, max_stanza_bytes: int) -> None:
        self.stanza_depth = stanza_depth
        self.max_depth = max_depth
        self.max_stanza_bytes = max_stanza_bytes
        self.events: list[StreamEvent] = []
        self._stack: list[Element] = []
        self._depth = 0
        self._stanza_start = 0
        self.parser = self._new_parser()

    def _new_parser(self) -> expat.XMLParserType:
        parser = _new_expat()
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        return parser

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        self._depth += 1
        if self._depth > self.max_depth:
            raise _Refused("policy-violation", f"elements nested deeper than {self.max_depth}")
        tag = _clark(name)
        attrib = {_clark(key): value for key, value in attributes.items()}
        level = self._depth - 1
        if level < self.stanza_depth:
            self.events.append(StreamOpened(tag=tag, attributes=attrib))
            return
        if level == self.stanza_depth:
            self._stanza_start = self.parser.CurrentByteIndex
        element = Element(tag, attrib)
        if self._stack:
            self._stack[-1].append(element)
        self._stack.append(element)
        self._check_size()

    def _end(self, _name: str) -> None:
        self._depth -= 1
        level = self._depth
        if level < self.stanza_depth:
            self.events.append(StreamClosed())
            return
        # Checked before the pop: with the stack empty _check_size looks at nothing, and a stanza whose
        # text expat reported in one go (a single large read) would pass unmeasured.
        self._check_size()
        element = self._stack.pop()
        if level == self.stanza_depth:
            self.events.append(StanzaReceived(element))

    def _text(self, data: str) -> None:
        if not self._stack:
            return  # whitespace keep-alives between stanzas
        self._check_size()
        current = self._stack[-1]
        if len(current):
            last = current[-1]
            last.tail = (last.tail or "") + data
        else:
            current.text = (current.text or "") + data

    def _check_size(self) -> None:
        if self._stack and self.parser.CurrentByteIndex - self._stanza_start > self.max_stanza_bytes:
            raise _Refused("policy-violation", f"stanza larger than {self.max_stanza_bytes} bytes")

    def pending_bytes(self, total_fed: int) -> int:
        """Bytes of the stanza in progress (including what expat buffers but has not reported)."""
        return total_fed - self._stanza_start if self._stack else 0


class XmlStreamParser:
    """Incremental parser for an RFC 6120 stream. Feed bytes, get events; never raises."""

    def __init__(
        self, *, max_stanza_bytes: int = DEFAULT_MAX_STANZA_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
    ) -> None:
        self._max_stanza_bytes = max_stanza_bytes
        self._max_depth = max_depth
        self._failed = False
        self._builder = self._new_builder()
        self._fed = 0
        # Bytes fed since the last stanza boundary; bounds what expat may buffer for an unfinished token.
        self._since_boundary = 0

    def _new_builder(self) -> _TreeBuilder:
        # The stream root is depth 0; its direct children (depth 1) are stanzas.
        return _TreeBuilder(
            stanza_depth=1, max_depth=self._max_depth + 1, max_stanza_bytes=self._max_stanza_bytes
        )

    @property
    def failed(self) -> bool:
        return self._failed

    def reset(self) -> None:
        """Start over for a stream restart (after STARTTLS or SASL success)."""
        if not self._failed:
            self._builder = self._new_builder()
            self._fed = 0
            self._since_boundary = 0

    def feed(self, data: bytes) -> list[StreamEvent]:
        if self._failed:
            return []
        builder = self._builder
        try:
            builder.parser.Parse(data, False)
        except _Refused as refused:
            return self._fail(builder, refused.condition, refused.text)
        except expat.ExpatError as error:
            return self._fail(builder, "not-well-formed", expat.ErrorString(error.code) or "not well-formed")
        except (ValueError, RecursionError) as error:  # pragma: no cover - defensive: expat internals
            return self._fail(builder, "not-well-formed", type(error).__name__)
        self._fed += len(data)
        events = builder.events
        builder.events = []
        if any(isinstance(event, StanzaReceived | StreamOpened) for event in events):
            self._since_boundary = builder.pending_bytes(self._fed)
        else:
            self._since_boundary += len(data)
        if self._since_boundary > self._max_stanza_bytes:
            return [*events, *self._fail(builder, "policy-violation", "stanza too large")]
        if any(isinstance(event, StreamClosed) for event in events):
            self._failed = True  # nothing may follow the close of the stream
        return events

    def _fail(self, builder: _TreeBuilder, condition: str, text: str) -> list[StreamEvent]:
        self._failed = True
        events = builder.events
        builder.events = []
        return [*events, StreamFailed(condition=condition, text=text)]


FastFrame = Callable[[bytes, int], Element | None]
"""``(frame bytes, max_depth)`` → the root element, or ``None`` to let the careful parser decide."""


def fast_frame(raw: bytes, max_depth: int) -> Element | None:
    """The element :func:`parse_frame` would return for ``raw`` (at most ``max_bytes``, checked before),
    or ``None`` when anything goes wrong or the frame is deeper than ``max_depth``."""
    # The careful parser's own expat (UTF-8, namespaces, refusals: no scan for "<!" needed) with xml.etree's
    # C tree builder as its handlers, so no Python runs per element. Not xml.etree's XMLParser: it makes a
    # string of every piece of text between references (a notification's payload has hundreds of &lt;)
    # where buffer_text hands the builder one, and its namespace separator "}" would change which URIs
    # expat refuses (none may hold the separator: the careful parser refuses "a b", XMLParser "a}b").
    # No size check while parsing: a frame of at most max_bytes holds no larger stanza.
    builder = TreeBuilder()
    parser = _new_expat()
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(raw, True)
        root: Element = builder.close()
    except Exception:  # any failure: the careful parser words the error
        return None
    if deeper_than(root, max_depth):
        return None
    # expat names namespaced elements and attributes "uri local": Clark names, as the careful builder makes.
    for element in root.iter():
        element.tag = _clark(element.tag)
        if element.keys():
            element.attrib = {_clark(key): value for key, value in element.items()}
    return root


def parse_frame(
    data: str | bytes,
    *,
    max_bytes: int = DEFAULT_MAX_STANZA_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    fast_path: FastFrame | None = fast_frame,
) -> Element:
    """Parse one RFC 7395 WebSocket message (a complete XML document) into its root element.

    Raises :class:`ProtocolError` whose ``reason`` is the stream-error condition to send. ``fast_path`` is
    tried first (``None``: the careful parser only); whatever it declines, the careful parser parses, so
    elements and errors do not depend on it.
    """
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else data
    except UnicodeEncodeError:  # lone surrogates: text no XML document can hold
        raise ProtocolError("not-well-formed", "the frame is not valid Unicode text") from None
    if len(raw) > max_bytes:
        raise ProtocolError("policy-violation", f"frame larger than {max_bytes} bytes")
    if fast_path is not None:
        fast = fast_path(raw, max_depth)
        if fast is not None:
            return fast
    builder = _TreeBuilder(stanza_depth=0, max_depth=max_depth, max_stanza_bytes=max_bytes)
    try:
        builder.parser.Parse(raw, True)
    except _Refused as refused:
        raise ProtocolError(refused.condition, refused.text) from None
    except expat.ExpatError as error:
        raise ProtocolError("not-well-formed", expat.ErrorString(error.code) or "not well-formed") from None
    stanzas = [event.element for event in builder.events if isinstance(event, StanzaReceived)]
    if len(stanzas) != 1:  # pragma: no cover - expat rejects documents with no or several roots
        raise ProtocolError("not-well-formed", "a frame must hold exactly one element")
    return stanzas[0]


def _split(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return uri, local
    return None, tag


def escape_text(value: str) -> str:
    """``value`` as element content: ``&``, ``<``, ``>`` and carriage return as references (a parser
    would read a raw carriage return as a line feed)."""
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


def serialize(element: Element, *, parent_namespace: str | None = None) -> str:
    """Serialise ``element`` with default ``xmlns`` declarations where the namespace changes.

    ``parent_namespace`` is the default namespace in scope where the element is written (for example
    ``"jabber:client"`` for stanzas inside an RFC 6120 stream that declared it).
    """
    parts: list[str] = []
    _write(element, parent_namespace, parts)
    return "".join(parts)


def _write(element: Element, parent_namespace: str | None, parts: list[str]) -> None:
    namespace, local = _split(str(element.tag))
    parts.append("<" + local)
    if namespace != parent_namespace:
        parts.append(f' xmlns="{escape_attribute(namespace or "")}"')
    prefixes = 0
    for key, value in element.attrib.items():
        attr_namespace, attr_local = _split(key)
        if attr_namespace is None:
            parts.append(f' {attr_local}="{escape_attribute(value)}"')
        elif attr_namespace == XML_NS:
            parts.append(f' xml:{attr_local}="{escape_attribute(value)}"')
        else:
            prefixes += 1
            prefix = f"a{prefixes}"
            parts.append(f' xmlns:{prefix}="{escape_attribute(attr_namespace)}"')
            parts.append(f' {prefix}:{attr_local}="{escape_attribute(value)}"')
    if element.text is None and len(element) == 0:
        parts.append("/>")
    else:
        parts.append(">")
        if element.text:
            parts.append(escape_text(element.text))
        for child in element:
            _write(child, namespace, parts)
            if child.tail:
                parts.append(escape_text(child.tail))
        parts.append(f"</{local}>")
