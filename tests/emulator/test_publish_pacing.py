"""Call-data changes spread over time are published in slots (one timer per slot, in order), and what makes
publishing cheap (cached participants, counted message ids) changes nothing a client sees."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fingress.emulator import render
from fingress.emulator.hub import Hub
from fingress.emulator.server import xmpp_settings
from fingress.emulator.timers import spread_evenly
from fingress.emulator.xmpp.session import ServerSession
from fingress.emulator.xmpp.websocket_framing import WebSocketFraming
from tests.emulator.support import Harness, Notification, fast_config


def test_without_a_slot_every_item_has_its_own_time() -> None:
    assert spread_evenly(["a", "b", "c", "d"], 0.4, 0.0) == [
        (0.0, ["a"]),
        (0.1, ["b"]),
        (0.2, ["c"]),
        (pytest.approx(0.3), ["d"]),
    ]


def test_items_due_within_a_slot_go_together_at_the_first_one_s_time() -> None:
    # Ten items over 0.1 s (every 10 ms) in 25 ms slots: 0-20 ms, 30-50 ms, 60-80 ms, 90 ms.
    groups = spread_evenly(list(range(10)), 0.1, 0.025)
    assert [group for _, group in groups] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert [delay_s for delay_s, _ in groups] == pytest.approx([0.0, 0.03, 0.06, 0.09])


@given(
    count=st.integers(min_value=0, max_value=300),
    spread_s=st.floats(min_value=0.0, max_value=1.0),
    slot_s=st.floats(min_value=0.0, max_value=1.0),
)
def test_slots_keep_every_item_once_in_order_and_never_late(
    count: int, spread_s: float, slot_s: float
) -> None:
    items = list(range(count))
    groups = spread_evenly(items, spread_s, slot_s)
    assert [item for _, group in groups for item in group] == items
    delays = [delay_s for delay_s, _ in groups]
    assert delays == sorted(delays)
    step_s = spread_s / count if count else 0.0
    for delay_s, group in groups:
        # A group goes at its first item's time; the others are early by less than a slot, never late.
        assert delay_s == pytest.approx(group[0] * step_s)
        assert all(0 <= item * step_s - delay_s < slot_s + 1e-9 for item in group[1:])


def _stamps(notifications: list[Notification]) -> list[str]:
    return [
        value.findtext("value") or ""
        for notification in notifications
        for value in notification.update.iter("CallVariable")
        if value.findtext("name") == "callVariable9"
    ]


@pytest.mark.parametrize(
    ("slot_s", "after_0_ms", "after_100_ms"),
    [(0.0, [1, 0], [2, 1]), (0.06, [1, 1], [2, 2])],  # a 60 ms slot takes the next change along
)
def test_spread_changes_are_published_in_order_at_their_slot_s_time(
    slot_s: float, after_0_ms: list[int], after_100_ms: list[int]
) -> None:
    lab = Harness(fast_config(timing={"call_data_slot_s": slot_s}))
    sessions = [lab.ready_agent(agent, f"{agent}001") for agent in ("1001", "1003")]
    first = lab.offer("1001")
    second = lab.offer("1003")
    for session in sessions:
        session.clear()

    def published() -> list[int]:
        return [len(_stamps(session.dialog_events())) for session in sessions]

    # Four changes over 0.2 s: due at 0, 50, 100 and 150 ms.
    updated = lab.cluster.update_call_data(
        [first, second, first, second], {}, stamp_variable="callVariable9", spread_s=0.2
    )
    assert updated == [first, second, first, second]
    assert published() == after_0_ms
    lab.advance(0.1)
    assert published() == after_100_ms
    lab.advance(0.1)
    assert published() == [2, 2]
    lab.advance(1.0)
    assert published() == [2, 2]


def test_a_cached_participant_follows_every_change_of_the_call() -> None:
    lab = Harness()
    session = lab.ready_agent("1001", "1001001")
    dialog_id = lab.offer("1001", callVariable1="x")
    cti = lab.cluster.cti
    for step in ("ANSWER", "HOLD", "RETRIEVE"):
        lab.act("1001", dialog_id, step)
        dialog = lab.dialog(dialog_id)
        published = session.dialog_events()[-1]
        assert published.text("data/Dialog/state") or published.text("data/dialogs/Dialog/state")
        # What the notification carried is what an uncached writer writes for the dialog now.
        fresh = render.dialog_text(dialog, actions_of=cti.actions_of, viewer="1001")
        assert fresh in published.xml


def _bound_session(hub: Hub, harness: Harness) -> WebSocketFraming:
    settings = xmpp_settings(harness.cluster.config)
    session = ServerSession(side="A", hub=hub, cluster=harness.cluster, settings=settings)
    framing = WebSocketFraming(session, max_stanza_bytes=65536, max_depth=32)
    opening = '<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="finesse-a.emulator.test" version="1.0"/>'
    credentials = base64.b64encode(b"\x001001\x00alice-pass").decode()
    framing.receive_message(opening)
    framing.receive_message(
        f'<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{credentials}</auth>'
    )
    framing.receive_message(opening)
    framing.receive_message(
        '<iq xmlns="jabber:client" type="set" id="b1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>'
    )
    framing.receive_message('<presence xmlns="jabber:client"/>')
    framing.messages_to_send()
    return framing


def test_message_ids_are_unique_within_a_stream_and_between_streams() -> None:
    lab = Harness()
    framings = [_bound_session(lab.hub, lab), _bound_session(lab.hub, lab)]
    for _ in range(3):
        lab.hub.publish("A", "1001", "/finesse/api/User/1001", "<Update/>")
    ids = [
        message.split(' id="', 1)[1].split('"', 1)[0]
        for framing in framings
        for message in framing.messages_to_send()
    ]
    assert len(ids) == 6
    assert len(set(ids)) == 6
