"""Building the stanzas the client sends and reading the ones it receives (ElementTree, Clark names)."""

from __future__ import annotations

import base64
from xml.etree.ElementTree import Element, SubElement

from connector.xmpp import namespaces as ns
from connector.xmpp.namespaces import qname, split

# Server-supplied texts end up in events and logs: keep them short.
MAX_TEXT_CHARS = 200


def iq(iq_type: str, iq_id: str, payload: Element | None = None, *, to: str | None = None) -> Element:
    """An ``<iq/>`` of ``iq_type`` (get, set, result, error) carrying ``payload``."""
    element = Element(qname(ns.CLIENT, "iq"), {"type": iq_type, "id": iq_id})
    if to:
        element.set("to", to)
    if payload is not None:
        element.append(payload)
    return element


def presence(presence_type: str | None = None) -> Element:
    """``<presence/>`` (available) or ``<presence type="unavailable"/>``."""
    element = Element(qname(ns.CLIENT, "presence"))
    if presence_type:
        element.set("type", presence_type)
    return element


def sasl_auth(mechanism: str, initial_response: bytes) -> Element:
    element = Element(qname(ns.SASL, "auth"), {"mechanism": mechanism})
    # RFC 6120 §6.4.2: an empty initial response is sent as "=".
    element.text = base64.b64encode(initial_response).decode("ascii") or "="
    return element


def sasl_response(data: bytes) -> Element:
    element = Element(qname(ns.SASL, "response"))
    element.text = base64.b64encode(data).decode("ascii") or None
    return element


def bind_request(resource: str) -> Element:
    bind = Element(qname(ns.BIND, "bind"))
    SubElement(bind, qname(ns.BIND, "resource")).text = resource
    return bind


def session_request() -> Element:
    return Element(qname(ns.SESSION, "session"))


def ping_request() -> Element:
    return Element(qname(ns.PING, "ping"))


def pubsub_request(action: str, node: str, jid: str) -> Element:
    """XEP-0060 ``<pubsub><subscribe|unsubscribe node=… jid=…/></pubsub>``."""
    pubsub = Element(qname(ns.PUBSUB, "pubsub"))
    SubElement(pubsub, qname(ns.PUBSUB, action), {"node": node, "jid": jid})
    return pubsub


def stanza_error(condition: str, error_type: str = "cancel") -> Element:
    error = Element(qname(ns.CLIENT, "error"), {"type": error_type})
    SubElement(error, qname(ns.STANZA_ERRORS, condition))
    return error


def stream_error(condition: str) -> Element:
    error = Element(qname(ns.STREAMS, "error"))
    SubElement(error, qname(ns.STREAM_ERRORS, condition))
    return error


def decode_sasl_data(element: Element) -> bytes | None:
    """The base64 payload of a SASL element; ``None`` when it is not valid base64."""
    text = (element.text or "").strip()
    if text in ("", "="):
        return b""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None


def child_text(element: Element, tag: str) -> str:
    child = element.find(tag)
    return (child.text or "").strip() if child is not None else ""


def condition_and_text(error: Element, condition_namespace: str) -> tuple[str, str]:
    """The defined condition (first child in ``condition_namespace`` other than ``text``) and the text."""
    condition = "undefined-condition"
    text = ""
    for child in error:
        namespace, local = split(child.tag)
        if namespace != condition_namespace:
            continue
        if local == "text":
            text = (child.text or "").strip()[:MAX_TEXT_CHARS]
        elif condition == "undefined-condition":
            condition = local[:MAX_TEXT_CHARS]
    return condition, text


def sasl_failure(element: Element) -> tuple[str, str]:
    """RFC 6120 §6.5: ``<failure>`` holds the condition and an optional ``<text>``, all in the SASL ns."""
    condition, text = condition_and_text(element, ns.SASL)
    return ("not-authorized" if condition == "undefined-condition" else condition), text


def iq_error(element: Element) -> tuple[str, str]:
    """The stanza-error condition and text of an ``<iq type="error">``."""
    for child in element:
        if split(child.tag)[1] == "error":
            return condition_and_text(child, ns.STANZA_ERRORS)
    return "undefined-condition", ""


def mechanisms(features: Element) -> list[str]:
    found = features.find(qname(ns.SASL, "mechanisms"))
    if found is None:
        return []
    return [(item.text or "").strip() for item in found.findall(qname(ns.SASL, "mechanism"))]


def session_required(features: Element) -> bool:
    """RFC 3921 session establishment is needed when advertised without ``<optional/>`` (RFC 6121 App. E)."""
    session = features.find(qname(ns.SESSION, "session"))
    return session is not None and session.find(qname(ns.SESSION, "optional")) is None


def pubsub_items(message: Element) -> list[tuple[str, str, str]]:
    """``(node, item id, payload text)`` for every item of a XEP-0060 event message.

    The payload is the item's first child element, whatever its namespace: Finesse's ``<notification>``
    has used ``urn:xmpp:push:0`` and ``http://jabber.org/protocol/pubsub``.
    """
    found: list[tuple[str, str, str]] = []
    for event in message.findall(qname(ns.PUBSUB_EVENT, "event")):
        for items in event.findall(qname(ns.PUBSUB_EVENT, "items")):
            node = items.get("node", "")
            for item in items.findall(qname(ns.PUBSUB_EVENT, "item")):
                payload = next(iter(item), None)
                text = "".join(payload.itertext()) if payload is not None else ""
                found.append((node, item.get("id", ""), text))
    return found
