"""Deliveries have the element structure of real Finesse 12.5 notifications (../shared/finesse-captures)."""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import pytest

from connector.xmpp.xmlstream import StanzaReceived
from fingress.emulator.hub import Hub
from tests.emulator_xmpp.fakes import RecordingCluster
from tests.emulator_xmpp.harness import StreamHarness
from tests.support.captures import CAPTURE_FILES


def shape(element: Element, inherited_namespace: str = "jabber:client") -> tuple[object, ...]:
    """Tag (with namespace), attribute names and children's shapes; values and text ignored."""
    tag = element.tag if element.tag.startswith("{") else f"{{{inherited_namespace}}}{element.tag}"
    namespace = tag[1:].partition("}")[0]
    return (tag, tuple(sorted(element.attrib)), tuple(shape(child, namespace) for child in element))


@pytest.mark.parametrize("capture_file", CAPTURE_FILES, ids=lambda path: path.stem)
def test_delivery_matches_the_capture(capture_file: Path) -> None:
    capture = SafeET.fromstring(capture_file.read_text())
    node = next(capture.iter("{http://jabber.org/protocol/pubsub#event}items")).get("node", "")
    update = next(capture.iter("{urn:xmpp:push:0}notification")).text or ""
    agent_id = node.rsplit("/", 1)[-1]
    cluster = RecordingCluster(passwords={agent_id: f"secret-{agent_id}"})
    hub = Hub()
    client = StreamHarness(hub=hub, cluster=cluster)
    client.login(agent_id=agent_id)

    hub.publish("A", agent_id, node, update)

    [message] = [event.element for event in client.read() if isinstance(event, StanzaReceived)]
    assert shape(message) == shape(capture)
    assert next(message.iter("{urn:xmpp:push:0}notification")).text == update
    assert message.get("to") == f"{agent_id}@{cluster.xmpp_domain('A')}"  # the bare JID, as captured
