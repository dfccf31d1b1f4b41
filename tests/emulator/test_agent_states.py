"""The agent state machine of FINESSE.md, on the cluster model with a manual clock."""

from __future__ import annotations

from typing import Any

import pytest

from edge.tunnel.errors import BadRequest, Forbidden
from tests.emulator.support import Harness, fast_config


@pytest.fixture
def lab() -> Harness:
    return Harness()


def test_sign_in_lands_in_not_ready_and_echoes_the_request_id(lab: Harness) -> None:
    session = lab.watch("1001")
    lab.put_user("1001", state="LOGIN", extension="1001001", request_id="req-7")
    [update] = session.users()
    assert update.node == "/finesse/api/User/1001"
    assert update.text("data/user/state") == "NOT_READY"
    assert update.text("data/user/extension") == "1001001"
    assert update.text("data/user/reasonCodeId") == "-1"
    assert update.request_id == "req-7"
    assert update.event == "PUT"


def test_the_outcome_waits_for_the_processing_delay() -> None:
    lab = Harness(fast_config(timing={"async_processing_delay_s": 0.5}))
    session = lab.watch("1001")
    lab.sign_in("1001", "1001001")
    assert session.notifications == []
    lab.advance(0.5)
    assert session.last_state() == "NOT_READY"


def test_ready_and_not_ready_with_a_reason_code(lab: Harness) -> None:
    session = lab.watch("1001")
    lab.sign_in("1001", "1001001")
    lab.ready("1001")
    assert session.last_state() == "READY"
    assert session.users()[-1].text("data/user/reasonCodeId") is None  # as in the ready capture
    lab.not_ready("1001", reason_code_id="2")
    last = session.users()[-1]
    assert last.text("data/user/state") == "NOT_READY"
    assert last.text("data/user/reasonCodeId") == "2"
    assert last.text("data/user/ReasonCode/label") == "Lunch"
    assert last.text("data/user/ReasonCode/code") == "2"


def test_signing_in_again_keeps_the_state(lab: Harness) -> None:
    lab.sign_in("1001", "1001001")
    lab.ready("1001")
    lab.sign_in("1001", "1001001")
    assert lab.agent("1001").state == "READY"


def test_ready_while_signed_out_is_an_asynchronous_invalid_state(lab: Harness) -> None:
    session = lab.watch("1001")
    lab.ready("1001", request_id="r-9")
    [error] = session.errors()
    assert error.text("data/apiErrors/apiError/errorType") == "Invalid State"
    assert error.text("data/apiErrors/apiError/errorMessage") == "CF_INVALID_OBJECT_STATE"
    assert error.text("data/apiErrors/apiError/errorData") == "22"
    assert error.request_id == "r-9"
    assert lab.agent("1001").state == "LOGOUT"


@pytest.mark.parametrize(
    ("fields", "error_type", "data"),
    [
        ({"state": "NOT_READY"}, "Parameter Missing", "reasonCodeId"),
        ({"state": "LOGOUT"}, "Parameter Missing", "reasonCodeId"),
        ({"state": "NOT_READY", "reason_code_id": "11"}, "Invalid Input", "reasonCodeId"),  # a LOGOUT code
        ({"state": "NOT_READY", "reason_code_id": "20"}, "Invalid Input", "reasonCodeId"),  # a system code
        ({"state": "NOT_READY", "reason_code_id": "abc"}, "Invalid Input", "reasonCodeId"),
        ({"state": "TALKING"}, "Invalid Input", "state"),
        ({}, "Parameter Missing", "state"),
        ({"state": "LOGIN"}, "Parameter Missing", "extension"),
        ({"state": "LOGIN", "extension": "12a"}, "Invalid Input", "extension"),
    ],
)
def test_synchronous_validation(lab: Harness, fields: dict[str, Any], error_type: str, data: str) -> None:
    lab.sign_in("1001", "1001001")
    with pytest.raises(BadRequest) as caught:
        lab.put_user("1001", **fields)
    assert caught.value.extra["error_type"] == error_type
    assert caught.value.extra["error_data"] == data


def test_reason_codes_are_optional_when_configured_so() -> None:
    lab = Harness(fast_config(behaviour={"require_reason_codes": False}))
    lab.sign_in("1001", "1001001")
    lab.ready("1001")
    lab.not_ready("1001", reason_code_id=None)
    assert lab.agent("1001").state == "NOT_READY"
    assert lab.agent("1001").reason is None


def test_cce_allows_logout_only_from_not_ready(lab: Harness) -> None:
    session = lab.watch("1001")
    lab.sign_in("1001", "1001001")
    lab.ready("1001")
    lab.logout("1001")
    assert session.errors()[-1].text("data/apiErrors/apiError/errorType") == "Invalid State"
    lab.not_ready("1001")
    lab.logout("1001", reason_code_id="12")
    last = session.users()[-1]
    assert last.text("data/user/state") == "LOGOUT"
    assert last.text("data/user/extension") == ""
    assert last.text("data/user/reasonCodeId") == "12"


def test_logout_from_ready_when_the_cce_rule_is_off() -> None:
    lab = Harness(fast_config(behaviour={"logout_only_from_not_ready": False}))
    lab.sign_in("1001", "1001001")
    lab.ready("1001")
    lab.logout("1001")
    assert lab.agent("1001").state == "LOGOUT"


def test_mobile_agent_call_by_call(lab: Harness) -> None:
    session = lab.watch("1001")
    lab.sign_in("1001", "1001001", mobile_agent=_mobile("CALL_BY_CALL", "0612345678"))
    user = session.users()[-1]
    assert user.text("data/user/mobileAgent/mode") == "CALL_BY_CALL"
    assert user.text("data/user/mobileAgent/dialNumber") == "0612345678"
    lab.ready("1001")
    assert lab.agent("1001").state == "READY"


def test_mobile_agent_not_enabled_gets_mode_not_allowed(lab: Harness) -> None:
    session = lab.watch("1003")
    lab.sign_in("1003", "1003001", mobile_agent=_mobile("CALL_BY_CALL", "0612345678"))
    assert session.errors()[-1].text("data/apiErrors/apiError/errorType") == "Mode Not Allowed"
    assert lab.agent("1003").state == "LOGOUT"


@pytest.mark.parametrize(
    ("mode", "number", "error_type"),
    [
        ("SOMETIMES", "0612345678", "Invalid Input"),
        (None, "0612345678", "Parameter Missing"),
        ("CALL_BY_CALL", None, "Parameter Missing"),
        ("CALL_BY_CALL", "call-me", "Invalid Input"),
    ],
)
def test_mobile_agent_request_validation(
    lab: Harness, mode: str | None, number: str | None, error_type: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        lab.sign_in("1001", "1001001", mobile_agent=_mobile(mode, number))
    assert caught.value.extra["error_type"] == error_type


def test_nailed_connection_must_be_answered_and_hanging_up_signs_out(lab: Harness) -> None:
    session = lab.watch("1002")
    lab.sign_in("1002", "1002001", mobile_agent=_mobile("NAILED_CONNECTION", "0698765432"))
    [setup] = session.dialog_events()
    assert setup.event == "POST"
    assert setup.text("data/dialogs/Dialog/toAddress") == "0698765432"
    dialog_id = setup.text("data/dialogs/Dialog/id")
    assert dialog_id is not None
    lab.ready("1002")
    assert session.errors()[-1].text("data/apiErrors/apiError/errorType") == "Invalid State"
    assert lab.cluster.cti.answer_on_phone(dialog_id)
    assert session.dialog_events()[-1].event == "DELETE"
    assert lab.agent("1002").nailed_connected
    lab.ready("1002")
    assert lab.agent("1002").state == "READY"
    assert lab.cluster.cti.hang_up_nailed("1002")
    agent = lab.agent("1002")
    assert agent.state == "LOGOUT"
    assert agent.reason is not None
    assert agent.reason.code == 50042


def test_nailed_connection_never_answered_signs_out_with_50040(lab: Harness) -> None:
    lab.sign_in("1002", "1002001", mobile_agent=_mobile("NAILED_CONNECTION", "0698765432"))
    lab.advance(29)
    assert lab.agent("1002").state == "NOT_READY"
    lab.advance(1)
    agent = lab.agent("1002")
    assert agent.state == "LOGOUT"
    assert agent.reason is not None
    assert agent.reason.code == 50040
    assert lab.cluster.cti.dialogs == {}


def test_a_shared_line_needs_a_device_choice(lab: Harness) -> None:
    session = lab.watch("1006")
    lab.sign_in("1006", "3000")
    error = session.errors()[-1]
    assert error.text("data/apiErrors/apiError/errorType") == "Invalid Device"
    assert error.text("data/apiErrors/apiError/errorMessage") == "CF_INVALID_LOGON_DEVICE_SPECIFIED"
    assert error.text("data/apiErrors/apiError/peripheralErrorCode") == "10125"
    lab.sign_in("1006", "3000", active_device_id="SEP00AA11BB9999")
    assert session.errors()[-1].text("data/apiErrors/apiError/errorType") == "Invalid Device"
    assert lab.agent("1006").state == "LOGOUT"
    lab.sign_in("1006", "3000", active_device_id="SEP00AA11BB2202")
    user = session.users()[-1]
    assert user.text("data/user/state") == "NOT_READY"
    assert user.text("data/user/activeDeviceId") == "SEP00AA11BB2202"


def test_an_extension_held_by_another_agent_is_busy(lab: Harness) -> None:
    session = lab.watch("1005")
    lab.sign_in("1001", "1001001")
    lab.sign_in("1005", "1001001")
    assert session.errors()[-1].text("data/apiErrors/apiError/errorType") == "Device Busy"


def test_supervisor_sets_a_team_member_not_ready_and_signs_them_out(lab: Harness) -> None:
    lab.sign_in("1001", "1001001")
    lab.ready("1001")
    lab.put_user("1001", actor="1010", state="NOT_READY")
    agent = lab.agent("1001")
    assert agent.state == "NOT_READY"
    assert agent.reason is not None
    assert agent.reason.code == 999
    lab.put_user("1001", actor="1010", state="LOGOUT")
    assert lab.agent("1001").state == "LOGOUT"


@pytest.mark.parametrize(
    ("actor", "target", "state"),
    [
        ("1002", "1001", "READY"),  # a plain agent
        ("1011", "1001", "READY"),  # a supervisor of another team
        ("1010", "1001", "LOGIN"),  # supervisors cannot sign agents in
    ],
)
def test_who_may_change_whom(lab: Harness, actor: str, target: str, state: str) -> None:
    with pytest.raises(Forbidden):
        lab.put_user(target, actor=actor, state=state, extension="1001001")


def _mobile(mode: str | None, number: str | None) -> object:
    from fingress.emulator.commands import MobileAgentRequest

    return MobileAgentRequest(mode=mode, dial_number=number)
