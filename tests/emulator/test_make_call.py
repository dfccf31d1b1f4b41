"""MAKE_CALL progress: INITIATING → INITIATED → ALERTING (the far end rings) → ACTIVE once answered, a
notification for each step — on the cluster model with a manual clock and the configured delays."""

from __future__ import annotations

import pytest

from tests.emulator.support import Harness, Notification, RecordingSession, fast_config

INITIATED_S, ALERTING_S, OUTSIDE_ANSWER_S = 0.1, 0.3, 2.0


def _lab(*, outside_party_answers: bool = True) -> Harness:
    return Harness(
        fast_config(
            timing={
                "make_call_initiated_delay_s": INITIATED_S,
                "make_call_alerting_delay_s": ALERTING_S,
                "outside_answer_delay_s": OUTSIDE_ANSWER_S,
            },
            behaviour={"outside_party_answers": outside_party_answers},
        )
    )


@pytest.fixture
def lab() -> Harness:
    return _lab()


def _steps(session: RecordingSession) -> list[tuple[str, str | None, list[tuple[str | None, str | None]]]]:
    """(event, dialog state, [(participant address, participant state)]) of each dialog notification."""

    def step(notification: Notification) -> tuple[str, str | None, list[tuple[str | None, str | None]]]:
        dialog = notification.update.find(".//Dialog")
        assert dialog is not None
        parties = [(p.findtext("mediaAddress"), p.findtext("state")) for p in dialog.iter("Participant")]
        return notification.event, dialog.findtext("state"), parties

    return [step(n) for n in session.dialog_events()]


def _signed_in(lab: Harness, agent_id: str = "1001", extension: str = "1001001") -> RecordingSession:
    session = lab.watch(agent_id)
    lab.sign_in(agent_id, extension)
    session.clear()
    return session


def test_an_outside_number_is_initiated_rings_then_answers_by_itself(lab: Harness) -> None:
    session = _signed_in(lab)
    lab.make_call("1001", "0612345678", request_id="mc")
    [post] = session.dialog_events()
    assert post.request_id == "mc"
    assert _steps(session) == [("POST", "INITIATING", [("1001001", "INITIATING")])]
    assert lab.agent("1001").state == "TALKING"  # off hook while dialing
    lab.advance(INITIATED_S)
    assert _steps(session)[-1] == ("PUT", "INITIATED", [("1001001", "INITIATED")])
    assert session.dialog_events()[-1].request_id == ""
    lab.advance(ALERTING_S)
    assert _steps(session)[-1] == (
        "PUT",
        "ALERTING",
        [("1001001", "INITIATED"), ("0612345678", "ALERTING")],
    )
    lab.advance(OUTSIDE_ANSWER_S - 0.01)
    assert len(session.dialog_events()) == 3
    lab.advance(0.01)
    assert _steps(session)[-1] == ("PUT", "ACTIVE", [("1001001", "ACTIVE"), ("0612345678", "ACTIVE")])
    assert lab.agent("1001").state == "TALKING"


def test_the_caller_may_only_drop_while_dialing_and_dropping_ends_it(lab: Harness) -> None:
    session = _signed_in(lab)
    lab.make_call("1001", "0612345678")
    [post] = session.dialog_events()
    dialog = post.update.find(".//Dialog")
    assert dialog is not None
    assert [a.text for a in dialog.iter("action")] == ["DROP"]
    dialog_id = dialog.findtext("id") or ""
    lab.advance(INITIATED_S)
    lab.act("1001", dialog_id, "DROP")
    assert session.dialog_events()[-1].event == "DELETE"
    assert lab.cluster.cti.dialogs == {}
    assert lab.agent("1001").state == "NOT_READY"
    lab.advance(60)  # the steps that were due later find nothing to do
    assert session.dialog_events()[-1].event == "DELETE"
    assert lab.scheduler.pending == 0


def test_an_unanswered_outside_call_needs_no_wrap_up() -> None:
    lab = _lab()
    session = _signed_in(lab, "1009", "1009001")  # wrap-up REQUIRED on outgoing calls
    lab.make_call("1009", "0612345678")
    lab.advance(INITIATED_S + ALERTING_S)
    [dialog_id] = lab.cluster.cti.dialogs
    lab.act("1009", dialog_id, "DROP")
    assert lab.agent("1009").state == "NOT_READY"
    assert "WORK" not in [user.text("data/user/state") for user in session.users()]


def test_without_outside_answers_the_control_api_answers_for_the_outside_number() -> None:
    lab = _lab(outside_party_answers=False)
    session = _signed_in(lab)
    lab.make_call("1001", "0612345678")
    lab.advance(INITIATED_S + ALERTING_S + 3600)
    [dialog_id] = lab.cluster.cti.dialogs
    assert lab.dialog(dialog_id).state == "ALERTING"
    assert lab.cluster.cti.answer_on_phone(dialog_id)
    assert _steps(session)[-1] == ("PUT", "ACTIVE", [("1001001", "ACTIVE"), ("0612345678", "ACTIVE")])
    assert not lab.cluster.cti.answer_on_phone(dialog_id)


def test_an_outside_number_may_refuse_by_hanging_up_while_ringing(lab: Harness) -> None:
    session = _signed_in(lab)
    lab.make_call("1001", "0612345678")
    lab.advance(INITIATED_S + ALERTING_S)
    [dialog_id] = lab.cluster.cti.dialogs
    assert lab.cluster.cti.customer_hangup(dialog_id)
    assert session.dialog_events()[-1].event == "DELETE"
    assert lab.agent("1001").state == "NOT_READY"
    assert lab.scheduler.pending == 0


def test_an_agent_extension_rings_after_initiated_and_connects_both_when_answered(lab: Harness) -> None:
    caller = _signed_in(lab)
    callee = _signed_in(lab, "1003", "1003001")
    lab.make_call("1001", "1003001")
    lab.advance(INITIATED_S)
    assert callee.dialog_events() == []  # nothing rings before the far end is dialled
    lab.advance(ALERTING_S)
    assert _steps(callee)[-1] == ("POST", "ALERTING", [("1001001", "INITIATED"), ("1003001", "ALERTING")])
    assert lab.agent("1003").state == "RESERVED"
    [dialog_id] = lab.cluster.cti.dialogs
    lab.act("1003", dialog_id, "ANSWER")
    assert _steps(caller)[-1] == ("PUT", "ACTIVE", [("1001001", "ACTIVE"), ("1003001", "ACTIVE")])
    assert lab.agent("1003").state == "TALKING"


def test_an_agent_who_became_busy_while_the_call_was_set_up_is_device_busy(lab: Harness) -> None:
    caller = _signed_in(lab)
    lab.ready_agent("1003", "1003001")
    lab.make_call("1001", "1003001")
    lab.offer("1003")  # a customer call reaches the callee first
    lab.advance(INITIATED_S + ALERTING_S)
    [error] = caller.errors()
    assert error.text("data/apiErrors/apiError/errorType") == "Device Busy"
    assert caller.dialog_events()[-1].event == "DELETE"
    assert lab.agent("1001").state == "NOT_READY"
