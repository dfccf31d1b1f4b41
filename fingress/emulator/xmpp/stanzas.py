"""Builders for the elements the emulator's XMPP servers send, one function per shape."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

from fingress.emulator.xmpp import namespaces as ns
from fingress.emulator.xmpp.namespaces import qname


def features_before_auth() -> Element:
    """Stream features of a fresh stream: SASL PLAIN only, as Finesse offers."""
    features = Element(qname(ns.STREAMS, "features"))
    mechanisms = SubElement(features, qname(ns.SASL, "mechanisms"))
    SubElement(mechanisms, qname(ns.SASL, "mechanism")).text = "PLAIN"
    return features


def features_after_auth() -> Element:
    """Stream features after SASL: resource binding and the legacy (optional) session."""
    features = Element(qname(ns.STREAMS, "features"))
    SubElement(features, qname(ns.BIND, "bind"))
    session = SubElement(features, qname(ns.SESSION, "session"))
    SubElement(session, qname(ns.SESSION, "optional"))
    return features


def sasl_success() -> Element:
    return Element(qname(ns.SASL, "success"))


def sasl_failure(condition: str) -> Element:
    """``condition`` is an RFC 6120 §6.5 SASL condition, e.g. ``not-authorized``."""
    failure = Element(qname(ns.SASL, "failure"))
    SubElement(failure, qname(ns.SASL, condition))
    return failure


def stream_error(condition: str, text: str = "") -> Element:
    """``condition`` is an RFC 6120 §4.9.3 stream-error condition."""
    error = Element(qname(ns.STREAMS, "error"))
    SubElement(error, qname(ns.STREAM_ERRORS, condition))
    if text:
        SubElement(error, qname(ns.STREAM_ERRORS, "text")).text = text
    return error


def _iq_attributes(iq_type: str, request: Element, sender: str, recipient: str) -> dict[str, str]:
    # Before resource binding the client has no full JID yet: the answer then goes without ``to``.
    attributes = {"type": iq_type, "id": request.get("id", ""), "from": sender}
    if recipient:
        attributes["to"] = recipient
    return attributes


def iq_result(*, request: Element, sender: str, recipient: str, payload: Element | None = None) -> Element:
    """The ``result`` answering ``request`` (same id), optionally carrying ``payload``."""
    iq = Element(qname(ns.CLIENT, "iq"), _iq_attributes("result", request, sender, recipient))
    if payload is not None:
        iq.append(payload)
    return iq


def iq_error(
    *,
    request: Element,
    sender: str,
    recipient: str,
    error_type: str,
    condition: str,
    application_condition: Element | None = None,
) -> Element:
    """An RFC 6120 §8.3 stanza error answering ``request``."""
    iq = Element(qname(ns.CLIENT, "iq"), _iq_attributes("error", request, sender, recipient))
    error = SubElement(iq, qname(ns.CLIENT, "error"), {"type": error_type})
    SubElement(error, qname(ns.STANZA_ERRORS, condition))
    if application_condition is not None:
        error.append(application_condition)
    return iq


def bind_result(jid: str) -> Element:
    bind = Element(qname(ns.BIND, "bind"))
    SubElement(bind, qname(ns.BIND, "jid")).text = jid
    return bind


def subscription(*, node: str, jid: str, subscription_id: str) -> Element:
    """The XEP-0060 §6.1.2 payload confirming a subscription."""
    pubsub = Element(qname(ns.PUBSUB, "pubsub"))
    SubElement(
        pubsub,
        qname(ns.PUBSUB, "subscription"),
        {"node": node, "jid": jid, "subid": subscription_id, "subscription": "subscribed"},
    )
    return pubsub


def pubsub_error_condition(local: str) -> Element:
    """An XEP-0060 application error condition, e.g. ``nodeid-required``."""
    return Element(qname(ns.PUBSUB_ERRORS, local))


def presence(*, sender: str, recipient: str, available: bool) -> Element:
    """``<presence from=sender to=recipient/>``, with ``type="unavailable"`` when not ``available``."""
    attributes = {"from": sender, "to": recipient}
    if not available:
        attributes["type"] = "unavailable"
    return Element(qname(ns.CLIENT, "presence"), attributes)
