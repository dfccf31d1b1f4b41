"""Writing the emulator's outputs as XML text: what both framings share."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from connector.xmpp.xmlstream import serialize
from fingress.emulator.xmpp import namespaces as ns
from fingress.emulator.xmpp import stanzas


def escape_attribute(value: str) -> str:
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
    )


def render_element(element: Element, *, content_namespace: str | None, declare_stream_prefix: bool) -> str:
    """Serialise a top-level element. Elements of the streams namespace (features, errors) are written
    with the conventional ``stream:`` prefix, which is how every XMPP server writes them; stanzas get a
    default namespace declaration only where ``content_namespace`` is not already in scope."""
    namespace, _, local = str(element.tag)[1:].partition("}")
    if namespace != ns.STREAMS:
        return serialize(element, parent_namespace=content_namespace)
    declaration = f' xmlns:stream="{ns.STREAMS}"' if declare_stream_prefix else ""
    children = "".join(serialize(child, parent_namespace=content_namespace) for child in element)
    if not children:
        return f"<stream:{local}{declaration}/>"
    return f"<stream:{local}{declaration}>{children}</stream:{local}>"


def render_stream_error(condition: str, text: str, *, declare_stream_prefix: bool) -> str:
    return render_element(
        stanzas.stream_error(condition, text),
        content_namespace=None,
        declare_stream_prefix=declare_stream_prefix,
    )
