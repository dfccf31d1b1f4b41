"""Wrap-up settings after a call: REQUIRED_WITH_WRAP_UP_DATA refuses to leave wrap-up without a wrap-up
reason (only the timer moves the agent on then), NOT_ALLOWED has no wrap-up at all — on the cluster
model with a manual clock."""

from __future__ import annotations

import pytest

from tests.emulator.support import Harness, RecordingSession

WRAP_UP = {"WORK", "WORK_READY"}


@pytest.fixture
def lab() -> Harness:
    return Harness()


def _in_wrap_up_after_a_call(lab: Harness, agent_id: str, extension: str) -> tuple[RecordingSession, str]:
    session = lab.ready_agent(agent_id, extension)
    dialog_id = lab.offer(agent_id)
    assert lab.cluster.cti.answer_on_phone(dialog_id)
    assert lab.cluster.cti.customer_hangup(dialog_id)
    assert lab.agent(agent_id).state == "WORK_READY"
    return session, dialog_id


def _states(session: RecordingSession) -> list[str | None]:
    return [user.text("data/user/state") for user in session.users()]


@pytest.mark.parametrize("leave", ["READY", "NOT_READY"])
def test_required_with_wrap_up_data_refuses_to_leave_wrap_up_without_a_reason(
    lab: Harness, leave: str
) -> None:
    session, _ = _in_wrap_up_after_a_call(lab, "1004", "1004001")  # REQUIRED_WITH_WRAP_UP_DATA
    session.clear()
    lab.put_user("1004", state=leave, reason_code_id="1" if leave == "NOT_READY" else None, request_id="r1")
    [error] = session.errors()
    assert error.node == "/finesse/api/User/1004"
    assert error.request_id == "r1"
    assert error.text("data/apiErrors/apiError/errorType") == "Invalid State"
    assert error.text("data/apiErrors/apiError/errorMessage") == "CF_WRAPUP_DATA_REQUIRED"
    assert error.text("data/apiErrors/apiError/errorData") == "WRAP_UP_DATA_REQUIRED"
    assert lab.agent("1004").state == "WORK_READY"
    assert session.users() == []


def test_a_wrap_up_reason_set_on_the_dialog_lets_the_agent_leave(lab: Harness) -> None:
    session, dialog_id = _in_wrap_up_after_a_call(lab, "1004", "1004001")
    lab.act("1004", dialog_id, "UPDATE_CALL_DATA", wrap_up_reason="Sale")
    session.clear()
    lab.not_ready("1004", reason_code_id="2", request_id="nr")
    assert session.errors() == []
    assert lab.agent("1004").state == "NOT_READY"
    assert session.users()[-1].request_id == "nr"
    assert lab.cluster.cti.dialogs == {}


def test_a_reason_set_during_the_call_counts(lab: Harness) -> None:
    lab.ready_agent("1004", "1004001")
    dialog_id = lab.offer("1004")
    lab.cluster.cti.answer_on_phone(dialog_id)
    lab.act("1004", dialog_id, "UPDATE_CALL_DATA", wrap_up_reason="Callback requested")
    lab.cluster.cti.customer_hangup(dialog_id)
    assert lab.agent("1004").state == "WORK_READY"
    lab.ready("1004")
    assert lab.agent("1004").state == "READY"


def test_the_wrap_up_timer_still_moves_an_agent_without_a_reason_on(lab: Harness) -> None:
    session, _ = _in_wrap_up_after_a_call(lab, "1004", "1004001")
    lab.ready("1004")  # refused: no reason
    lab.advance(lab.agent("1004").wrap_up_timer_s)
    assert lab.agent("1004").state == "READY"
    assert session.errors()[-1].text("data/apiErrors/apiError/errorData") == "WRAP_UP_DATA_REQUIRED"


def test_the_next_wrap_up_asks_again(lab: Harness) -> None:
    _, first = _in_wrap_up_after_a_call(lab, "1004", "1004001")
    lab.act("1004", first, "UPDATE_CALL_DATA", wrap_up_reason="Sale")
    lab.ready("1004")
    assert lab.agent("1004").state == "READY"
    session = lab.sessions[("A", "1004")]
    second = lab.offer("1004")
    lab.cluster.cti.answer_on_phone(second)
    lab.cluster.cti.customer_hangup(second)
    session.clear()
    lab.ready("1004")
    assert lab.agent("1004").state == "WORK_READY"
    assert len(session.errors()) == 1


def test_plain_required_needs_no_reason(lab: Harness) -> None:
    session, _ = _in_wrap_up_after_a_call(lab, "1002", "1002001")  # REQUIRED
    lab.ready("1002")
    assert session.errors() == []
    assert lab.agent("1002").state == "READY"


def test_not_allowed_means_no_wrap_up_state_after_an_incoming_call(lab: Harness) -> None:
    session = lab.ready_agent("1003", "1003001")  # NOT_ALLOWED on incoming calls
    dialog_id = lab.offer("1003")
    lab.cluster.cti.answer_on_phone(dialog_id)
    lab.cluster.cti.customer_hangup(dialog_id)
    assert not WRAP_UP & set(_states(session))
    assert lab.agent("1003").state == "READY"
    assert lab.cluster.cti.dialogs == {}


def test_not_allowed_means_no_wrap_up_state_after_an_outgoing_call(lab: Harness) -> None:
    session = lab.watch("1004")  # outgoing calls: NOT_ALLOWED (the default)
    lab.sign_in("1004", "1004001")
    lab.make_call("1004", "0612345678")
    [dialog] = lab.cluster.cti.dialogs.values()
    lab.act("1004", dialog.id, "DROP")
    assert not WRAP_UP & set(_states(session))
    assert lab.agent("1004").state == "NOT_READY"
