"""Calls: offer, answer, hold, consult, transfer, conference, single-step transfer, DTMF, call data, drop,
customer hang-up, ring timeout, pending state and wrap-up — on the cluster model with a manual clock."""

from __future__ import annotations

from typing import Any

import pytest

from edge.tunnel.errors import BadRequest, Forbidden, NotFound
from fingress.emulator.cti import NoAgentAvailable
from tests.emulator.support import Harness, Notification, RecordingSession


@pytest.fixture
def lab() -> Harness:
    return Harness()


def _actions(notification: Notification, address: str) -> list[str]:
    dialog = notification.update.find(".//Dialog")
    assert dialog is not None
    for participant in dialog.iter("Participant"):
        if participant.findtext("mediaAddress") == address:
            return [action.text or "" for action in participant.iter("action")]
    raise AssertionError(f"no participant {address}")


def _last_dialog(session: RecordingSession) -> Notification:
    return session.dialog_events()[-1]


def test_an_offered_call_reserves_the_agent_and_alerts(lab: Harness) -> None:
    session = lab.ready_agent("1001", "1001001")
    dialog_id = lab.offer("1001", caller="0201112222", callVariable1="acct-42", **{"user.tier": "gold"})
    post = _last_dialog(session)
    assert post.event == "POST"
    assert post.node == "/finesse/api/User/1001/Dialogs"
    assert post.text("data/dialogs/Dialog/id") == dialog_id
    assert post.text("data/dialogs/Dialog/state") == "ALERTING"
    assert post.text("data/dialogs/Dialog/fromAddress") == "0201112222"
    assert post.text("data/dialogs/Dialog/mediaProperties/callType") == "ACD_IN"
    names = [v.findtext("name") for v in post.update.iter("CallVariable")]
    assert names == ["callVariable1", "user.tier"]
    assert _actions(post, "1001001") == ["ANSWER"]
    assert session.last_state() == "RESERVED"


def test_routing_picks_the_agent_ready_the_longest(lab: Harness) -> None:
    lab.ready_agent("1003", "1003001")
    lab.advance(1)
    lab.ready_agent("1001", "1001001")
    first = lab.offer()
    assert lab.dialog(first).participant_of("1003") is not None
    second = lab.offer()
    assert lab.dialog(second).participant_of("1001") is not None
    with pytest.raises(NoAgentAvailable):
        lab.offer()


def test_a_named_agent_must_be_ready(lab: Harness) -> None:
    lab.sign_in("1001", "1001001")
    with pytest.raises(NoAgentAvailable):
        lab.offer("1001")


def test_answer_hold_retrieve_and_customer_hangup_without_wrap_up(lab: Harness) -> None:
    session = lab.ready_agent("1003", "1003001")  # wrap-up NOT_ALLOWED on incoming calls
    dialog_id = lab.offer("1003")
    lab.act("1003", dialog_id, "ANSWER", request_id="ans")
    put = _last_dialog(session)
    assert put.event == "PUT"
    assert put.request_id == "ans"
    assert put.text("source") == f"/finesse/api/Dialog/{dialog_id}"
    assert put.text("data/Dialog/state") == "ACTIVE"
    assert _actions(put, "1003001") == [
        "HOLD",
        "DROP",
        "UPDATE_CALL_DATA",
        "CONSULT_CALL",
        "TRANSFER_SST",
        "SEND_DTMF",
    ]
    assert session.last_state() == "TALKING"
    lab.act("1003", dialog_id, "HOLD")
    assert session.last_state() == "HOLD"
    assert _actions(_last_dialog(session), "1003001") == ["RETRIEVE", "DROP", "UPDATE_CALL_DATA"]
    lab.act("1003", dialog_id, "RETRIEVE")
    assert session.last_state() == "TALKING"
    assert lab.cluster.cti.customer_hangup(dialog_id)
    assert _last_dialog(session).event == "DELETE"
    assert session.last_state() == "READY"  # back where the agent was before the call
    assert lab.cluster.cti.dialogs == {}


def test_an_action_the_participant_does_not_offer_is_a_call_operation_failure(lab: Harness) -> None:
    session = lab.ready_agent("1001", "1001001")
    dialog_id = lab.offer("1001")
    lab.act("1001", dialog_id, "HOLD", request_id="h")
    [error] = session.errors()
    assert error.node == "/finesse/api/User/1001/Dialogs"
    assert error.text("data/apiErrors/apiError/errorType") == "Call Operation Failure"
    assert error.request_id == "h"


def test_answer_on_the_phone_through_the_control_seam(lab: Harness) -> None:
    lab.ready_agent("1001", "1001001")
    dialog_id = lab.offer("1001")
    assert lab.cluster.cti.answer_on_phone(dialog_id)
    assert lab.agent("1001").state == "TALKING"
    assert not lab.cluster.cti.answer_on_phone(dialog_id)


def test_pending_not_ready_applies_when_the_call_ends(lab: Harness) -> None:
    session = lab.ready_agent("1003", "1003001")
    dialog_id = lab.offer("1003")
    lab.cluster.cti.answer_on_phone(dialog_id)
    lab.not_ready("1003", reason_code_id="3")
    user = session.users()[-1]
    assert user.text("data/user/state") == "TALKING"
    assert user.text("data/user/pendingState") == "NOT_READY"
    lab.act("1003", dialog_id, "DROP")
    agent = lab.agent("1003")
    assert agent.state == "NOT_READY"
    assert agent.pending_state == ""
    assert agent.reason is not None
    assert agent.reason.id == 3


def test_wrap_up_then_the_timer_makes_the_agent_ready(lab: Harness) -> None:
    session = lab.ready_agent("1001", "1001001")  # OPTIONAL wrap-up, 60 s timer
    dialog_id = lab.offer("1001")
    lab.cluster.cti.answer_on_phone(dialog_id)
    lab.act("1001", dialog_id, "DROP")
    assert session.last_state() == "WORK_READY"
    wrap = _last_dialog(session)
    assert wrap.event == "PUT"
    assert _actions(wrap, "1001001") == ["UPDATE_CALL_DATA"]
    lab.act("1001", dialog_id, "UPDATE_CALL_DATA", wrap_up_reason="Sale", request_id="wu")
    assert _last_dialog(session).text("data/Dialog/mediaProperties/wrapUpReason") == "Sale"
    assert _last_dialog(session).request_id == "wu"
    lab.advance(59)
    assert session.last_state() == "WORK_READY"
    lab.advance(1)
    assert session.last_state() == "READY"
    assert _last_dialog(session).event == "DELETE"
    assert lab.cluster.cti.dialogs == {}


def test_pending_not_ready_goes_through_work_and_ends_not_ready(lab: Harness) -> None:
    session = lab.ready_agent("1001", "1001001")
    dialog_id = lab.offer("1001")
    lab.cluster.cti.answer_on_phone(dialog_id)
    lab.not_ready("1001", reason_code_id="4")
    lab.cluster.cti.customer_hangup(dialog_id)
    assert session.last_state() == "WORK"
    lab.advance(60)
    agent = lab.agent("1001")
    assert agent.state == "NOT_READY"
    assert agent.reason is not None
    assert agent.reason.id == 4


def test_ready_during_wrap_up_ends_it(lab: Harness) -> None:
    session = lab.ready_agent("1001", "1001001")
    dialog_id = lab.offer("1001")
    lab.cluster.cti.answer_on_phone(dialog_id)
    lab.cluster.cti.customer_hangup(dialog_id)
    assert session.last_state() == "WORK_READY"
    lab.ready("1001")
    assert session.last_state() == "READY"
    assert _last_dialog(session).event == "DELETE"
    assert lab.scheduler.pending == 0


def test_ring_timeout_makes_the_agent_not_ready_with_32767(lab: Harness) -> None:
    session = lab.ready_agent("1001", "1001001")
    lab.offer("1001")
    lab.advance(30)
    agent = lab.agent("1001")
    assert agent.state == "NOT_READY"  # no wrap-up: the call was never answered
    assert agent.reason is not None
    assert agent.reason.code == 32767
    assert _last_dialog(session).event == "DELETE"


def test_consult_then_transfer_to_another_agent(lab: Harness) -> None:
    alice = lab.ready_agent("1001", "1001001")
    carol = lab.watch("1003")
    lab.sign_in("1003", "1003001")
    customer_call = lab.offer("1001", caller="0201112222", callVariable2="x")
    lab.cluster.cti.answer_on_phone(customer_call)
    lab.act("1001", customer_call, "CONSULT_CALL", to_address="1003001")
    assert alice.last_state() == "TALKING"
    consult_post = carol.dialog_events()[-1]
    assert consult_post.event == "POST"
    assert consult_post.text("data/dialogs/Dialog/mediaProperties/callType") == "CONSULT"
    assert carol.last_state() == "RESERVED"
    consult_id = consult_post.text("data/dialogs/Dialog/id")
    assert consult_id is not None
    held = lab.dialog(customer_call)
    held_participant = held.participant_of("1001")
    assert held_participant is not None
    assert held_participant.state == "HELD"
    assert "TRANSFER" not in lab.cluster.cti.actions_of(held, held_participant)
    lab.act("1003", consult_id, "ANSWER")
    assert lab.cluster.cti.actions_of(held, held_participant)[-2:] == ["TRANSFER", "CONFERENCE"]
    lab.act("1001", customer_call, "TRANSFER")
    # Alice leaves both calls and wraps up; Carol now talks to the customer on the original dialog.
    assert alice.last_state() == "WORK_READY"
    assert carol.last_state() == "TALKING"
    carol_events = [(n.event, n.update.findtext(".//Dialog/id")) for n in carol.dialog_events()]
    assert ("DELETE", consult_id) in carol_events
    assert ("POST", customer_call) in carol_events
    assert consult_id not in lab.cluster.cti.dialogs
    assert lab.dialog(customer_call).call_variables == {"callVariable2": "x"}

    # Carol sees the customer and herself; Alice's wrap-up on the same dialog is Alice's alone.
    def last_view(session: RecordingSession) -> list[str]:
        latest = [n for n in session.dialog_events() if n.update.findtext(".//Dialog/id") == customer_call][
            -1
        ]
        return sorted(p.findtext("state") or "" for p in latest.update.iter("Participant"))

    assert last_view(carol) == ["ACTIVE", "ACTIVE"]
    assert last_view(alice) == ["ACTIVE", "ACTIVE", "WRAP_UP"]
    lab.cluster.cti.customer_hangup(customer_call)
    assert carol.last_state() == "NOT_READY"  # she was NOT_READY before the consult reached her


def test_consult_then_conference_and_one_agent_drops(lab: Harness) -> None:
    alice = lab.ready_agent("1003", "1003001")
    lab.sign_in("1005", "1005001")
    erin = lab.watch("1005")
    call = lab.offer("1003")
    lab.cluster.cti.answer_on_phone(call)
    lab.act("1003", call, "CONSULT_CALL", to_address="1005001")
    consult_id = erin.dialog_events()[-1].text("data/dialogs/Dialog/id")
    assert consult_id is not None
    assert lab.cluster.cti.answer_on_phone(consult_id)
    lab.act("1003", call, "CONFERENCE")
    dialog = lab.dialog(call)
    assert dialog.call_type == "CONFERENCE"
    assert sorted(p.state for p in dialog.participants) == ["ACTIVE", "ACTIVE", "ACTIVE"]
    assert alice.last_state() == "TALKING"
    lab.act("1003", call, "DROP")
    assert alice.last_state() == "READY"
    assert erin.last_state() == "TALKING"
    assert len(lab.dialog(call).participants) == 2


def test_consult_to_an_outside_number_and_transfer(lab: Harness) -> None:
    alice = lab.ready_agent("1003", "1003001")
    call = lab.offer("1003")
    lab.cluster.cti.answer_on_phone(call)
    lab.act("1003", call, "CONSULT_CALL", to_address="+31201234567")
    lab.act("1003", call, "TRANSFER")
    assert alice.last_state() == "READY"
    # Only outside parties remain: the call has left the contact center and the emulator forgets it.
    assert call not in lab.cluster.cti.dialogs


def test_transfer_without_an_answered_consult_fails(lab: Harness) -> None:
    alice = lab.ready_agent("1003", "1003001")
    lab.sign_in("1005", "1005001")
    call = lab.offer("1003")
    lab.cluster.cti.answer_on_phone(call)
    lab.act("1003", call, "CONSULT_CALL", to_address="1005001")
    lab.act("1003", call, "TRANSFER")
    assert alice.errors()[-1].text("data/apiErrors/apiError/errorType") == "Call Operation Failure"


def test_single_step_transfer_to_an_agent(lab: Harness) -> None:
    alice = lab.ready_agent("1003", "1003001")
    lab.sign_in("1005", "1005001")
    erin = lab.watch("1005")
    call = lab.offer("1003")
    lab.cluster.cti.answer_on_phone(call)
    lab.act("1003", call, "TRANSFER_SST", to_address="1005001")
    assert alice.last_state() == "READY"
    assert alice.dialog_events()[-1].event == "DELETE"
    assert erin.dialog_events()[-1].event == "POST"
    assert erin.last_state() == "RESERVED"
    lab.act("1005", call, "ANSWER")
    assert erin.last_state() == "TALKING"


def test_dtmf_and_call_data(lab: Harness) -> None:
    session = lab.ready_agent("1001", "1001001")
    call = lab.offer("1001")
    lab.cluster.cti.answer_on_phone(call)
    lab.act("1001", call, "SEND_DTMF", action_params={"dtmfString": "12#"})
    lab.act("1001", call, "SEND_DTMF", action_params={"dtmfString": "*9"})
    assert lab.dialog(call).dtmf_digits == "12#*9"
    lab.act("1001", call, "UPDATE_CALL_DATA", call_variables={"callVariable10": "v", "user.account": "A-1"})
    variables = {
        v.findtext("name"): v.findtext("value") for v in _last_dialog(session).update.iter("CallVariable")
    }
    assert variables == {"callVariable10": "v", "user.account": "A-1"}


@pytest.mark.parametrize(
    ("action", "fields", "data"),
    [
        ("SEND_DTMF", {"action_params": {"dtmfString": "12x"}}, "dtmfString"),
        ("SEND_DTMF", {}, "dtmfString"),
        ("UPDATE_CALL_DATA", {"call_variables": {"callVariable11": "v"}}, "callvariables"),
        ("UPDATE_CALL_DATA", {"call_variables": {"user.": "v"}}, "callvariables"),
        ("UPDATE_CALL_DATA", {}, "mediaProperties"),
        ("UPDATE_CALL_DATA", {"wrap_up_reason": "x" * 40}, "wrapUpReason"),
        ("CONSULT_CALL", {}, "toAddress"),
        ("TRANSFER_SST", {"to_address": "next door"}, "toAddress"),
        ("PARK", {}, "requestedAction"),
    ],
)
def test_dialog_request_validation(lab: Harness, action: str, fields: dict[str, Any], data: str) -> None:
    lab.ready_agent("1001", "1001001")
    call = lab.offer("1001")
    lab.cluster.cti.answer_on_phone(call)
    with pytest.raises(BadRequest) as caught:
        lab.act("1001", call, action, **fields)
    assert caught.value.extra["error_data"] == data


def test_agents_touch_only_their_own_dialogs(lab: Harness) -> None:
    lab.ready_agent("1001", "1001001")
    lab.sign_in("1003", "1003001")
    call = lab.offer("1001")
    with pytest.raises(Forbidden):
        lab.act("1003", call, "ANSWER")
    with pytest.raises(NotFound):
        lab.act("1001", "999", "ANSWER")


def test_make_call_from_not_ready_with_wrap_up_on_outgoing(lab: Harness) -> None:
    session = lab.watch("1009")  # wrap-up REQUIRED on outgoing calls
    lab.sign_in("1009", "1009001")
    lab.not_ready("1009", reason_code_id="1")
    lab.make_call("1009", "0201112222", request_id="mc")
    post = session.dialog_events()[0]  # then INITIATED, ALERTING and ACTIVE follow (no delays here)
    assert post.event == "POST"
    assert post.request_id == "mc"
    assert post.text("data/dialogs/Dialog/mediaProperties/callType") == "OUT"
    assert session.last_state() == "TALKING"
    call = post.text("data/dialogs/Dialog/id")
    assert call is not None
    lab.act("1009", call, "DROP")
    assert session.last_state() == "WORK"
    lab.advance(7200)
    agent = lab.agent("1009")
    assert agent.state == "NOT_READY"
    assert agent.reason is not None
    assert agent.reason.id == 1


def test_make_call_rules(lab: Harness) -> None:
    session = lab.ready_agent("1001", "1001001")
    lab.make_call("1001", "0201112222")
    assert session.errors()[-1].text("data/apiErrors/apiError/errorType") == "Invalid State"
    request_from_elsewhere = lab.cluster.cti.agents["1001"]
    assert request_from_elsewhere.state == "READY"
    from fingress.emulator.commands import DialogRequest

    with pytest.raises(BadRequest) as caught:
        lab.cluster.make_call(
            lab.cluster.actor("1001"),
            "1001",
            DialogRequest(requested_action="MAKE_CALL", from_address="999", to_address="123"),
            "",
        )
    assert caught.value.extra["error_data"] == "fromAddress"


def test_an_agent_calls_a_busy_agent(lab: Harness) -> None:
    lab.ready_agent("1001", "1001001")
    call = lab.offer("1001")
    lab.cluster.cti.answer_on_phone(call)
    session = lab.watch("1003")
    lab.sign_in("1003", "1003001")
    lab.not_ready("1003")
    lab.make_call("1003", "1001001")
    assert session.errors()[-1].text("data/apiErrors/apiError/errorType") == "Device Busy"


def test_only_the_requesting_agent_sees_its_request_id(lab: Harness) -> None:
    alice = lab.ready_agent("1003", "1003001")
    lab.sign_in("1005", "1005001")
    erin = lab.watch("1005")
    call = lab.offer("1003")
    lab.cluster.cti.answer_on_phone(call)
    lab.act("1003", call, "CONSULT_CALL", to_address="1005001", request_id="consult-1")
    assert alice.dialog_events()[-1].request_id == "consult-1"
    assert [n.request_id for n in erin.notifications] == [""] * len(erin.notifications)
    assert erin.dialog_events()
