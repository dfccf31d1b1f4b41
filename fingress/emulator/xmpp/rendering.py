"""Writing the emulator's outputs as XML text: what both framings share."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from connector.xmpp.xmlstream import serialize
from fingress.emulator.xml_text import escape_attribute, escape_text
from fingress.emulator.xmpp import namespaces as ns
from fingress.emulator.xmpp import stanzas
from fingress.emulator.xmpp.session import SendNotification

__all__ = ["escape_attribute", "render_element", "render_notification", "render_stream_error"]

_CLIENT_DECLARATION = f' xmlns="{ns.CLIENT}"'
_EVENT_OPEN = f'<event xmlns="{ns.PUBSUB_EVENT}">'


def render_notification(output: SendNotification, *, content_namespace: str | None) -> str:
    """A Finesse notification as the captures show it: the ``Update`` document travels as (escaped) text
    of ``<notification>``, inside a XEP-0060 event::

        <message from="pubsub.<domain>" to="<agent>@<domain>" id="…">
          <event xmlns="http://jabber.org/protocol/pubsub#event"><items node="…"><item id="…">
            <notification xmlns="urn:xmpp:push:0">&lt;Update&gt;…</notification>
          </item></items></event></message>

    ``jabber:client`` is declared unless ``content_namespace`` already puts it in scope."""
    declaration = "" if content_namespace == ns.CLIENT else _CLIENT_DECLARATION
    return (
        f'<message{declaration} from="{escape_attribute(output.sender)}"'
        f' to="{escape_attribute(output.recipient)}" id="{escape_attribute(output.message_id)}">'
        f'{_EVENT_OPEN}<items node="{escape_attribute(output.node)}">'
        f'<item id="{escape_attribute(output.item_id)}">'
        f'<notification xmlns="{escape_attribute(output.notification_namespace)}">'
        f"{escape_text(output.notification_xml)}</notification></item></items></event></message>"
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
