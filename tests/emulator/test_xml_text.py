"""The text writer of the hot notification path: what it writes parses back to the same values, for hostile
values too, and the Dialog reads the same as before (ElementTree's tree, element for element)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import defusedxml.ElementTree as SafeET
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fingress.emulator import render
from fingress.emulator.model import Dialog, Participant
from fingress.emulator.xml_text import escape_attribute, escape_text, leaf, parent
from fingress.emulator.xmpp import namespaces as ns
from fingress.emulator.xmpp.rendering import render_notification
from fingress.emulator.xmpp.session import SendNotification
from tests.emulator.support import Harness

# Every character an XML 1.0 document can carry (no other control characters, no lone surrogates), with
# the ones that need escaping or that a parser normalises drawn often.
_xml_character = st.one_of(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]).filter(lambda c: c not in "\ufffe\uffff"),
    st.sampled_from(["&", "<", ">", '"', "'", "\t", "\n", "\r"]),
)
_tricky = st.sampled_from(["]]>", "&amp;", "&#13;", "\r\n"])
xml_text = st.lists(st.one_of(_xml_character, _tricky)).map("".join)
call_variable_value = st.lists(st.one_of(_xml_character, _tricky), max_size=60).map("".join)


def _parse(text: str) -> ET.Element:
    root: ET.Element = SafeET.fromstring(text)
    return root


@given(xml_text)
def test_text_reads_back_as_written(value: str) -> None:
    assert (_parse(leaf("value", value)).text or "") == value


@given(xml_text)
def test_attribute_values_read_back_as_written(value: str) -> None:
    assert _parse(f'<item id="{escape_attribute(value)}"/>').get("id") == value


def test_escaping_writes_references_for_markup_and_carriage_returns() -> None:
    assert escape_text('a&b<c>d"e\r') == 'a&amp;b&lt;c&gt;d"e&#13;'
    assert escape_attribute('a&b<"\n\t\r') == "a&amp;b&lt;&quot;&#10;&#9;&#13;"
    assert escape_text("plain") == "plain"


def test_empty_elements_are_written_as_elementtree_writes_them() -> None:
    assert leaf("stateCause", "") == "<stateCause />"
    assert parent("callvariables", "") == "<callvariables />"
    assert leaf("state", "ACTIVE") == "<state>ACTIVE</state>"
    assert parent("actions", "<action>DROP</action>") == "<actions><action>DROP</action></actions>"


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2023, 1, 13, 11, 7, 11, 466999, tzinfo=UTC), "2023-01-13T11:07:11.466Z"),
        (datetime(2026, 1, 1, tzinfo=UTC), "2026-01-01T00:00:00.000Z"),
        (datetime(2026, 12, 31, 23, 59, 59, 1000), "2026-12-31T23:59:59.001Z"),
        # The clock's own fields, as strftime wrote them (the emulator's clocks are UTC).
        (datetime(2026, 6, 1, 8, 0, tzinfo=timezone(timedelta(hours=2))), "2026-06-01T08:00:00.000Z"),
    ],
)
def test_finesse_time_is_finesse_s_timestamp_form(moment: datetime, expected: str) -> None:
    assert render.finesse_time(moment) == expected


def _reference_dialog(dialog: Dialog, *, actions_of: render.ActionsOf, viewer: str) -> str:
    """The Dialog as the emulator built it before it was written as text (ElementTree, same order)."""

    def add(parent_element: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        child = ET.SubElement(parent_element, tag)
        child.text = text
        return child

    element = ET.Element("Dialog")
    add(
        element,
        "associatedDialogUri",
        f"/finesse/api/Dialog/{dialog.consult_of}" if dialog.consult_of else "",
    )
    add(element, "fromAddress", dialog.from_address)
    add(element, "id", dialog.id)
    media = add(element, "mediaProperties")
    add(media, "DNIS", dialog.dnis)
    add(media, "callType", dialog.call_type)
    add(media, "dialedNumber", dialog.dialed_number)
    variables = add(media, "callvariables")
    for name, value in dialog.call_variables.items():
        variable = add(variables, "CallVariable")
        add(variable, "name", name)
        add(variable, "value", value)
    add(media, "queueName", dialog.queue_name)
    add(media, "wrapUpReason", dialog.wrap_up_reason)
    add(element, "mediaType", "Voice")
    participants = add(element, "participants")
    for participant in dialog.participants:
        if participant.state == "WRAP_UP" and participant.agent_id != viewer:
            continue
        item = add(participants, "Participant")
        actions = add(item, "actions")
        for action in actions_of(dialog, participant):
            add(actions, "action", action)
        add(item, "mediaAddress", participant.media_address)
        add(item, "mediaAddressType", participant.media_address_type)
        add(item, "startTime", render.finesse_time(participant.start_time))
        add(item, "state", participant.state)
        add(item, "stateCause", participant.state_cause)
        add(item, "stateChangeTime", render.finesse_time(participant.state_change_time))
    add(element, "state", dialog.state)
    add(element, "toAddress", dialog.to_address)
    add(element, "uri", dialog.uri)
    return ET.tostring(element, encoding="unicode")


def _no_actions(dialog: Dialog, participant: Participant) -> list[str]:
    return ["HOLD", "DROP"] if participant.agent_id else []


# Carriage returns are left out where the reference is compared byte for byte: ElementTree writes them raw.
no_cr_text = xml_text.map(lambda value: value.replace("\r", ""))


@given(
    variables=st.dictionaries(st.sampled_from(["callVariable1", "user.a&b", "callVariable10"]), no_cr_text),
    from_address=no_cr_text,
    queue=no_cr_text,
    cause=no_cr_text,
)
def test_a_dialog_is_written_as_elementtree_wrote_it(
    variables: dict[str, str], from_address: str, queue: str, cause: str
) -> None:
    moment = datetime(2026, 3, 1, 9, 30, 15, 250000, tzinfo=UTC)
    dialog = Dialog(
        id="16777217",
        from_address=from_address,
        to_address="1001001",
        call_type="ACD_IN",
        incoming=True,
        state="ACTIVE",
        queue_name=queue,
        call_variables=variables,
        consult_of="16777216",
        participants=[
            Participant(from_address, "EXTERNAL", "ACTIVE", moment, moment, state_cause=cause),
            Participant("1001001", "AGENT_DEVICE", "ACTIVE", moment, moment, agent_id="1001"),
            Participant("1002001", "AGENT_DEVICE", "WRAP_UP", moment, moment, agent_id="1002"),
        ],
    )
    expected = _reference_dialog(dialog, actions_of=_no_actions, viewer="1001")
    assert render.dialog_text(dialog, actions_of=_no_actions, viewer="1001") == expected
    writer = render.DialogWriter(actions_of=_no_actions)
    assert writer.dialog_text(dialog, viewer="1001") == expected
    assert writer.dialog_text(dialog, viewer="1001") == expected  # from the cache this time


@given(
    st.dictionaries(
        st.sampled_from(["callVariable1", "callVariable2", "user.x"]), call_variable_value, min_size=1
    )
)
def test_hostile_call_variables_survive_the_update_and_the_stanza(variables: dict[str, str]) -> None:
    lab = Harness()
    session = lab.ready_agent("1001", "1001001")
    dialog_id = lab.offer("1001", **variables)
    update = session.dialog_events()[-1]
    written = {
        variable.findtext("name"): variable.findtext("value") or ""
        for variable in update.update.iter("CallVariable")
    }
    assert written == variables
    assert update.text("data/dialogs/Dialog/id") == dialog_id
    # The Update travels as text of <notification>: the stanza gives back the same document.
    stanza = render_notification(
        SendNotification(
            sender="pubsub.finesse-a.emulator.test",
            recipient="1001@finesse-a.emulator.test",
            message_id="m-1",
            node=update.node,
            item_id=update.item_id,
            notification_xml=update.xml,
            notification_namespace=ns.PUSH,
        ),
        content_namespace=None,
    )
    notification = _parse(stanza).find(f".//{{{ns.PUSH}}}notification")
    assert notification is not None
    assert notification.text == update.xml


@given(sender=xml_text, recipient=xml_text, node=xml_text, item_id=xml_text)
def test_a_notification_stanza_reads_back_as_sent(
    sender: str, recipient: str, node: str, item_id: str
) -> None:
    output = SendNotification(
        sender=sender,
        recipient=recipient,
        message_id="m-1",
        node=node,
        item_id=item_id,
        notification_xml="<Update><event>PUT</event></Update>",
        notification_namespace=ns.PUSH,
    )
    message = _parse(render_notification(output, content_namespace=None))
    assert message.tag == f"{{{ns.CLIENT}}}message"
    assert (message.get("from"), message.get("to"), message.get("id")) == (sender, recipient, "m-1")
    items = message.find(f"{{{ns.PUBSUB_EVENT}}}event/{{{ns.PUBSUB_EVENT}}}items")
    assert items is not None
    assert items.get("node") == node
    item = items.find(f"{{{ns.PUBSUB_EVENT}}}item")
    assert item is not None
    assert item.get("id") == item_id
    assert item.findtext(f"{{{ns.PUSH}}}notification") == output.notification_xml


def test_a_stream_that_declared_jabber_client_gets_stanzas_without_the_declaration() -> None:
    output = SendNotification("s", "r", "m", "n", "i", "x", ns.PUSH)
    assert render_notification(output, content_namespace=ns.CLIENT).startswith('<message from="s"')
    assert render_notification(output, content_namespace=None).startswith(
        f'<message xmlns="{ns.CLIENT}" from="s"'
    )
