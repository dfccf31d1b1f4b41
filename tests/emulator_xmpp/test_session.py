"""The server session's protocol, bytes in and parsed elements out (RFC 6120 framing), no event loop."""

from __future__ import annotations

import base64
from xml.etree.ElementTree import Element

import pytest

from connector.xmpp.xmlstream import StanzaReceived, StreamOpened
from fingress.emulator.hub import Hub
from fingress.emulator.xmpp.settings import XmppServerSettings
from tests.emulator_xmpp import script
from tests.emulator_xmpp.fakes import DOMAINS, RecordingCluster
from tests.emulator_xmpp.harness import StreamHarness, closing_condition

DOMAIN = DOMAINS["A"]
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
CLIENT = "{jabber:client}"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def cluster() -> RecordingCluster:
    return RecordingCluster()


@pytest.fixture
def client(hub: Hub, cluster: RecordingCluster) -> StreamHarness:
    return StreamHarness(hub=hub, cluster=cluster)


def only(elements: list[Element]) -> Element:
    assert len(elements) == 1, elements
    return elements[0]


def error_condition(iq: Element) -> str:
    assert iq.get("type") == "error", iq.attrib
    error = iq.find(f"{CLIENT}error")
    assert error is not None
    return next(child.tag.rpartition("}")[2] for child in error if child.tag.startswith(f"{{{STANZAS}}}"))


def test_stream_header_is_answered_with_sasl_plain_only(client: StreamHarness) -> None:
    events = client.send(script.stream_header())
    opened = events[0]
    assert isinstance(opened, StreamOpened)
    assert opened.tag == "{http://etherx.jabber.org/streams}stream"
    assert opened.attributes["from"] == DOMAIN
    assert opened.attributes["version"] == "1.0"
    assert opened.attributes["id"]
    features = events[1]
    assert isinstance(features, StanzaReceived)
    mechanisms = [m.text for m in features.element.iter(f"{{{SASL}}}mechanism")]
    assert mechanisms == ["PLAIN"]


def test_full_sign_in_binds_the_agent_jid_and_attaches_to_the_hub(
    client: StreamHarness, hub: Hub, cluster: RecordingCluster
) -> None:
    client.send(script.stream_header())
    success = only(client.stanzas(script.auth("6021", "secret-6021")))
    assert success.tag == f"{{{SASL}}}success"
    events = client.send(script.stream_header())
    assert isinstance(events[0], StreamOpened)
    features = events[1]
    assert isinstance(features, StanzaReceived)
    assert features.element.find("{urn:ietf:params:xml:ns:xmpp-bind}bind") is not None
    bound = only(client.stanzas(script.bind("mobile-1")))
    assert bound.get("type") == "result"
    assert bound.get("id") == "bind1"
    assert bound.findtext("{urn:ietf:params:xml:ns:xmpp-bind}bind/{urn:ietf:params:xml:ns:xmpp-bind}jid") == (
        f"6021@{DOMAIN}/mobile-1"
    )
    assert hub.sessions("A", "6021") == frozenset({client.session})
    session_result = only(client.stanzas(script.session()))
    assert session_result.get("type") == "result"
    assert session_result.get("id") == "sess1"
    assert cluster.auth_attempts == [("A", "6021")]
    assert cluster.presence == []
    client.send(script.presence())
    assert cluster.presence == [("A", "6021", True)]


def test_bind_without_resource_generates_one(client: StreamHarness) -> None:
    client.send(script.stream_header())
    client.send(script.auth("6021", "secret-6021"))
    client.send(script.stream_header())
    bound = only(client.stanzas(script.bind(None)))
    jid = bound.findtext(".//{urn:ietf:params:xml:ns:xmpp-bind}jid") or ""
    assert jid.startswith(f"6021@{DOMAIN}/fingress-")


def test_desktop_resource_is_accepted(client: StreamHarness) -> None:
    client.login(resource="desktop")
    assert client.session.jid == f"6021@{DOMAIN}/desktop"


def test_authcid_with_this_domain_and_matching_authzid_are_accepted(client: StreamHarness) -> None:
    client.send(script.stream_header())
    response = base64.b64encode(f"6021@{DOMAIN}\x006021@{DOMAIN}\x00secret-6021".encode()).decode()
    auth = f"<auth xmlns='{SASL}' mechanism='PLAIN'>{response}</auth>"
    assert only(client.stanzas(auth)).tag == f"{{{SASL}}}success"


@pytest.mark.parametrize(
    ("auth", "condition"),
    [
        (script.auth("6021", "wrong"), "not-authorized"),
        (script.auth("6021", "secret-6021", mechanism="SCRAM-SHA-1"), "invalid-mechanism"),
        (f"<auth xmlns='{SASL}' mechanism='PLAIN'>!!notbase64</auth>", "incorrect-encoding"),
        (
            f"<auth xmlns='{SASL}' mechanism='PLAIN'>{base64.b64encode(b'only-one-part').decode()}</auth>",
            "incorrect-encoding",
        ),
        (
            f"<auth xmlns='{SASL}' mechanism='PLAIN'>{script.plain('6021', 'secret-6021', '6022')}</auth>",
            "invalid-authzid",
        ),
        (
            f"<auth xmlns='{SASL}' mechanism='PLAIN'>{script.plain('6021@elsewhere', 'secret-6021')}</auth>",
            "not-authorized",
        ),
        (f"<abort xmlns='{SASL}'/>", "aborted"),
    ],
)
def test_failed_authentication_answers_sasl_failure(client: StreamHarness, auth: str, condition: str) -> None:
    client.send(script.stream_header())
    failure = only(client.stanzas(auth))
    assert failure.tag == f"{{{SASL}}}failure"
    assert [child.tag for child in failure] == [f"{{{SASL}}}{condition}"]
    assert not client.session.finished
    assert client.session.agent_id is None


def test_too_many_failed_authentications_close_the_stream(
    client: StreamHarness, cluster: RecordingCluster
) -> None:
    client.send(script.stream_header())
    client.send(script.auth("6021", "wrong-1"))
    client.send(script.auth("6021", "wrong-2"))
    events = client.send(script.auth("6021", "wrong-3"))
    assert closing_condition(events) == "policy-violation"
    assert cluster.auth_attempts == [("A", "6021")] * 3  # each counts toward the cluster's account lock


def test_ping_is_answered(client: StreamHarness) -> None:
    client.login()
    pong = only(client.stanzas(script.ping("p-7")))
    assert pong.get("type") == "result"
    assert pong.get("id") == "p-7"
    assert pong.get("to") == f"6021@{DOMAIN}/fingress-test"
    assert len(pong) == 0


def test_unknown_iq_is_service_unavailable(client: StreamHarness) -> None:
    client.login()
    answer = only(client.stanzas("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"))
    assert answer.get("id") == "r1"
    assert error_condition(answer) == "service-unavailable"


def test_iq_without_a_single_payload_is_a_bad_request(client: StreamHarness) -> None:
    client.login()
    assert error_condition(only(client.stanzas("<iq type='get' id='e'/>"))) == "bad-request"
    assert error_condition(
        only(client.stanzas("<iq type='fetch' id='e'><ping xmlns='urn:xmpp:ping'/></iq>"))
    ) == ("bad-request")


def test_iq_results_from_the_client_are_ignored(client: StreamHarness) -> None:
    client.login()
    assert client.stanzas("<iq type='result' id='x'/>") == []


@pytest.mark.parametrize(
    "node", ["/finesse/api/User/6021", "/finesse/api/User/6021/Dialogs", "/finesse/api/SystemInfo"]
)
def test_subscribing_own_nodes_succeeds(client: StreamHarness, node: str) -> None:
    client.login()
    answer = only(client.stanzas(script.subscribe(node, f"6021@{DOMAIN}")))
    assert answer.get("type") == "result"
    assert answer.get("from") == f"pubsub.{DOMAIN}"
    subscription = answer.find(
        "{http://jabber.org/protocol/pubsub}pubsub/{http://jabber.org/protocol/pubsub}subscription"
    )
    assert subscription is not None
    assert subscription.get("node") == node
    assert subscription.get("subscription") == "subscribed"


@pytest.mark.parametrize(
    ("node", "jid", "condition"),
    [
        ("/finesse/api/Team/5005/Users", f"6021@{DOMAIN}", "not-authorized"),
        ("/finesse/api/User/6022", f"6021@{DOMAIN}", "not-authorized"),
        ("/finesse/api/User/60211", f"6021@{DOMAIN}", "not-authorized"),
        ("/finesse/api/User/6021", f"6022@{DOMAIN}", "bad-request"),
        ("", f"6021@{DOMAIN}", "bad-request"),
    ],
)
def test_subscribing_other_nodes_is_refused(
    client: StreamHarness, node: str, jid: str, condition: str
) -> None:
    client.login()
    assert error_condition(only(client.stanzas(script.subscribe(node, jid)))) == condition


def test_notification_has_the_shape_of_the_captures(client: StreamHarness, hub: Hub) -> None:
    client.login()
    update = "<Update><data><user><state>READY</state></user></data><event>PUT</event></Update>"
    hub.publish("A", "6021", "/finesse/api/User/6021", update)
    message = only([e.element for e in client.read() if isinstance(e, StanzaReceived)])
    assert message.tag == f"{CLIENT}message"
    assert message.get("from") == f"pubsub.{DOMAIN}"
    assert message.get("to") == f"6021@{DOMAIN}"
    assert message.get("id")
    items = message.find(
        "{http://jabber.org/protocol/pubsub#event}event/{http://jabber.org/protocol/pubsub#event}items"
    )
    assert items is not None
    assert items.get("node") == "/finesse/api/User/6021"
    item = only(list(items))
    assert item.get("id", "").startswith("fingress-emulator-")
    notification = only(list(item))
    assert notification.tag == "{urn:xmpp:push:0}notification"
    assert notification.text == update  # escaped on the wire, the document itself once parsed


def test_notification_namespace_is_configurable(hub: Hub, cluster: RecordingCluster) -> None:
    client = StreamHarness(
        hub=hub,
        cluster=cluster,
        settings=XmppServerSettings(notification_namespace="http://jabber.org/protocol/pubsub"),
    )
    client.login()
    hub.publish("A", "6021", "/finesse/api/User/6021", "<Update/>")
    [message] = [e.element for e in client.read() if isinstance(e, StanzaReceived)]
    assert next(message.iter("{http://jabber.org/protocol/pubsub}notification")).text == "<Update/>"


def test_notification_escapes_the_update_document_on_the_wire(client: StreamHarness, hub: Hub) -> None:
    client.login()
    hub.publish("A", "6021", "/finesse/api/User/6021", "<Update><a>&amp;</a></Update>")
    wire = client.framing.data_to_send().decode()
    assert "&lt;Update&gt;&lt;a&gt;&amp;amp;&lt;/a&gt;&lt;/Update&gt;" in wire
    assert "ns0:" not in wire


def test_notifications_wait_for_available_presence(hub: Hub, cluster: RecordingCluster) -> None:
    client = StreamHarness(hub=hub, cluster=cluster)
    client.login(available=False)
    hub.publish("A", "6021", "/finesse/api/User/6021", "<Update/>")
    assert client.read() == []
    client.send(script.presence())
    hub.publish("A", "6021", "/finesse/api/User/6021", "<Update/>")
    assert len(client.read()) == 1


def test_unsubscribed_node_is_not_delivered(client: StreamHarness, hub: Hub) -> None:
    client.login()
    client.send(script.subscribe("/finesse/api/User/6021/Dialogs", f"6021@{DOMAIN}", action="unsubscribe"))
    hub.publish("A", "6021", "/finesse/api/User/6021/Dialogs", "<Update/>")
    assert client.read() == []
    hub.publish("A", "6021", "/finesse/api/User/6021", "<Update/>")
    assert len(client.read()) == 1


def test_presence_is_reported_per_agent_and_side(hub: Hub, cluster: RecordingCluster) -> None:
    first = StreamHarness(hub=hub, cluster=cluster)
    second = StreamHarness(hub=hub, cluster=cluster)
    other_side = StreamHarness(hub=hub, cluster=cluster, side="B")
    first.login(resource="one")
    second.login(resource="two")
    other_side.login(resource="one")
    assert cluster.presence == [("A", "6021", True), ("B", "6021", True)]
    first.send(script.presence("unavailable"))
    assert cluster.presence[-1] == ("B", "6021", True)  # the agent is still available on A through `second`
    second.framing.receive_eof()  # abrupt loss of the last available session on A
    assert cluster.presence[-1] == ("A", "6021", False)
    assert hub.sessions("A", "6021") == frozenset({first.session})
    first.send(script.presence())
    assert cluster.presence[-1] == ("A", "6021", True)
    closing_condition(first.send("</stream:stream>"))
    assert cluster.presence[-1] == ("A", "6021", False)
    assert hub.sessions("A", "6021") == frozenset()


def test_same_resource_replaces_the_older_session(hub: Hub, cluster: RecordingCluster) -> None:
    older = StreamHarness(hub=hub, cluster=cluster)
    newer = StreamHarness(hub=hub, cluster=cluster)
    older.login(resource="same")
    newer.login(resource="same")
    assert closing_condition(older.read()) == "conflict"
    assert hub.sessions("A", "6021") == frozenset({newer.session})
    # Truthful, like an XMPP server: the old resource went away before the new one sent presence.
    assert cluster.presence == [("A", "6021", True), ("A", "6021", False), ("A", "6021", True)]


def test_drop_side_closes_with_system_shutdown_after_pending_notifications(
    client: StreamHarness, hub: Hub, cluster: RecordingCluster
) -> None:
    client.login()
    hub.broadcast(
        "A",
        "/finesse/api/SystemInfo",
        "<Update><data><SystemInfo><status>OUT_OF_SERVICE</status></SystemInfo></data></Update>",
    )
    hub.drop_side("A")
    events = client.read()
    assert isinstance(events[0], StanzaReceived)
    assert events[0].element.tag == f"{CLIENT}message"
    assert closing_condition(events) == "system-shutdown"
    assert hub.sessions("A", "6021") == frozenset()
    assert cluster.presence[-1] == ("A", "6021", False)


def test_out_of_service_side_refuses_new_streams(client: StreamHarness, cluster: RecordingCluster) -> None:
    cluster.service["A"] = False
    events = client.send(script.stream_header())
    assert isinstance(events[0], StreamOpened)
    assert closing_condition(events) == "system-shutdown"


def test_side_going_down_before_bind_refuses_the_restart(
    client: StreamHarness, cluster: RecordingCluster
) -> None:
    client.send(script.stream_header())
    client.send(script.auth("6021", "secret-6021"))
    cluster.service["A"] = False
    assert closing_condition(client.send(script.stream_header())) == "system-shutdown"


def test_queue_overflow_closes_the_session_and_drops_its_backlog(hub: Hub, cluster: RecordingCluster) -> None:
    client = StreamHarness(hub=hub, cluster=cluster, settings=XmppServerSettings(max_queued_notifications=3))
    client.login()
    for _ in range(3):
        hub.publish("A", "6021", "/finesse/api/User/6021", "<Update/>")
    assert not client.session.finished
    hub.publish("A", "6021", "/finesse/api/User/6021", "<Update/>")
    assert client.session.finished
    events = client.read()
    assert closing_condition(events) == "policy-violation"
    assert not [e for e in events if isinstance(e, StanzaReceived) and e.element.tag == f"{CLIENT}message"]
    assert hub.sessions("A", "6021") == frozenset()


def test_queue_bound_counts_only_what_the_client_has_not_taken(hub: Hub, cluster: RecordingCluster) -> None:
    client = StreamHarness(hub=hub, cluster=cluster, settings=XmppServerSettings(max_queued_notifications=2))
    client.login()
    for _ in range(10):
        hub.publish("A", "6021", "/finesse/api/User/6021", "<Update/>")
        hub.publish("A", "6021", "/finesse/api/User/6021", "<Update/>")
        assert len(client.read()) == 2
    assert not client.session.finished


def test_idle_timeout_closes_with_connection_timeout(client: StreamHarness) -> None:
    client.login()
    client.session.idle_timeout_expired()
    assert closing_condition(client.read()) == "connection-timeout"


def test_client_close_is_answered_and_ends_the_session(client: StreamHarness, hub: Hub) -> None:
    client.login()
    events = client.send("</stream:stream>")
    assert closing_condition(events) == ""
    assert client.session.finished
    assert hub.sessions("A", "6021") == frozenset()


def test_each_output_wakes_the_transport(client: StreamHarness, hub: Hub) -> None:
    client.login()
    before = client.wakes
    hub.publish("A", "6021", "/finesse/api/User/6021", "<Update/>")
    assert client.wakes == before + 1


def test_repr_carries_no_secret(client: StreamHarness) -> None:
    client.login()
    assert "secret" not in repr(client.session)
    assert "6021" in repr(client.session)


def test_header_split_at_every_byte_still_authenticates(hub: Hub, cluster: RecordingCluster) -> None:
    data = (script.stream_header() + script.auth("6021", "secret-6021")).encode()
    for cut in range(1, len(data)):
        client = StreamHarness(hub=hub, cluster=cluster)
        client.send(data[:cut])
        client.send(data[cut:])
        assert client.session.agent_id == "6021", cut


def test_nothing_is_sent_after_the_close(client: StreamHarness, hub: Hub) -> None:
    client.login()
    client.send("</stream:stream>")
    hub.publish("A", "6021", "/finesse/api/User/6021", "<Update/>")
    client.session.close("system-shutdown")
    assert client.framing.data_to_send() == b""


def test_a_client_flooding_requests_without_reading_is_closed(hub: Hub, cluster: RecordingCluster) -> None:
    client = StreamHarness(hub=hub, cluster=cluster, settings=XmppServerSettings(max_queued_notifications=5))
    client.login()
    client.framing.receive_data("".join(script.ping(f"p{n}") for n in range(6)).encode())
    assert client.session.finished
    events = client.read()
    assert closing_condition(events) == "policy-violation"
    assert not [e for e in events if isinstance(e, StanzaReceived) and e.element.tag == f"{CLIENT}iq"]


def test_bound_stanzas_split_at_every_byte_are_answered_alike(hub: Hub, cluster: RecordingCluster) -> None:
    data = (script.session() + script.ping("p1") + script.presence()).encode()
    for cut in range(1, len(data)):
        client = StreamHarness(hub=hub, cluster=cluster)
        client.login(resource=f"r{cut}", available=False)
        answers = client.stanzas(data[:cut]) + client.stanzas(data[cut:])
        assert [(answer.get("id"), answer.get("type")) for answer in answers] == [
            ("sess1", "result"),
            ("p1", "result"),
            (None, None),  # the finesse user's presence, after the client's initial presence
        ], cut
        assert answers[-1].get("from") == f"finesse@{DOMAINS['A']}/finesse", cut
        assert client.session.available, cut
        client.framing.receive_eof()


# -- the finesse user's presence (webapp up / down) ------------------------------------------------


def presences(elements: list[Element]) -> list[tuple[str | None, str | None, str | None]]:
    return [
        (element.get("from"), element.get("to"), element.get("type"))
        for element in elements
        if element.tag == "{jabber:client}presence"
    ]


def test_initial_presence_is_answered_with_the_finesse_users_presence_while_the_webapp_is_up(
    hub: Hub, cluster: RecordingCluster
) -> None:
    client = StreamHarness(hub=hub, cluster=cluster)
    client.login(resource="r1", available=False)
    finesse = f"finesse@{DOMAINS['A']}/finesse"
    assert presences(client.stanzas(script.presence())) == [(finesse, client.session.jid, None)]
    # Only the transition to available announces it: a repeated available presence does not.
    assert presences(client.stanzas(script.presence())) == []


def test_no_finesse_presence_for_a_new_session_while_the_webapp_is_down(
    hub: Hub, cluster: RecordingCluster
) -> None:
    cluster.webapp["A"] = False
    client = StreamHarness(hub=hub, cluster=cluster)
    client.login(resource="r1", available=False)
    assert presences(client.stanzas(script.presence())) == []


def test_webapp_presence_reaches_available_sessions_of_that_side_only(
    hub: Hub, cluster: RecordingCluster
) -> None:
    on_a = StreamHarness(hub=hub, cluster=cluster)
    on_a.login(agent_id="6021", resource="a")
    silent_on_a = StreamHarness(hub=hub, cluster=cluster)
    silent_on_a.login(agent_id="6022", resource="silent", available=False)
    on_b = StreamHarness(hub=hub, cluster=cluster, side="B")
    on_b.login(agent_id="6023", resource="b")
    finesse = f"finesse@{DOMAINS['A']}/finesse"

    hub.broadcast_presence("A", finesse, False)
    assert presences(on_a.stanzas(b"")) == [(finesse, on_a.session.jid, "unavailable")]
    assert presences(silent_on_a.stanzas(b"")) == []
    assert presences(on_b.stanzas(b"")) == []

    hub.broadcast_presence("A", finesse, True)
    assert presences(on_a.stanzas(b"")) == [(finesse, on_a.session.jid, None)]
