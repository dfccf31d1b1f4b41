"""Every real Finesse capture parses into the values it carries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.finesse.models import (
    AgentState,
    ApiErrorList,
    FinesseApiError,
    UpdateEvent,
    User,
    WrapUpSettings,
)
from connector.finesse.parse import parse_update
from tests.finesse.captures import capture_names, notification_text

USER_CAPTURES = {
    "login.xml": (AgentState.NOT_READY, "2830", "2023-01-13T11:07:11.466"),
    "logout.xml": (AgentState.LOGOUT, "", "2023-01-13T10:46:22.083"),
    "not-ready.xml": (AgentState.NOT_READY, "2830", "2023-01-13T11:21:47.026"),
    "ready.xml": (AgentState.READY, "2830", "2023-01-13T11:14:47.981"),
}


def test_every_capture_is_covered() -> None:
    assert set(capture_names()) == {*USER_CAPTURES, "error-invalid-line.xml", "error-invalid-state.xml"}


@pytest.mark.parametrize("name", sorted(USER_CAPTURES))
def test_user_captures(name: str) -> None:
    state, extension, changed = USER_CAPTURES[name]
    update = parse_update(notification_text(name))
    assert update.event is UpdateEvent.PUT
    assert update.request_id is None
    assert update.source == "/finesse/api/User/6021"
    user = update.data
    assert isinstance(user, User)
    assert user.login_id == "6021"
    assert user.login_name == "lpu_test_21"
    assert (user.first_name, user.last_name) == ("LPU", "Test 21")
    assert user.state is state
    assert user.extension == extension
    assert user.state_change_time == datetime.fromisoformat(changed).replace(tzinfo=UTC)
    assert user.pending_state is None
    assert user.reason_code_id is None
    assert user.reason_code is None
    assert user.roles == ("Agent", "Supervisor")
    assert user.settings == WrapUpSettings(wrap_up_on_incoming="OPTIONAL", wrap_up_on_outgoing="OPTIONAL")
    assert user.mobile_agent is None
    assert (user.team_id, user.team_name) == ("5005", "LPU_test")
    assert user.wrap_up_timer_s == 7200
    assert user.uri == "/finesse/api/User/6021"
    assert user.signed_in is (state is not AgentState.LOGOUT)


def test_invalid_device_error_capture() -> None:
    update = parse_update(notification_text("error-invalid-line.xml"))
    # The capture says "put": the event is matched in any case.
    assert update.event is UpdateEvent.PUT
    assert update.request_id is None
    assert update.source == "/finesse/api/User/6021"
    assert update.data == ApiErrorList(
        (
            FinesseApiError(
                error_type="Invalid Device",
                error_message="CF_INVALID_LOGON_DEVICE_SPECIFIED",
                error_data="260",
                peripheral_error_code="10125",
                peripheral_error_msg="PERERR_TELDRIVE_NODEVICETARGETFORNETTARGETID",
                peripheral_error_text=(
                    "A device target with the network target ID specified cannot be found. This could "
                    "indicate either an internal error or a configuration error"
                ),
            ),
        )
    )


def test_invalid_state_error_capture() -> None:
    update = parse_update(notification_text("error-invalid-state.xml"))
    assert update.event is UpdateEvent.PUT
    assert update.request_id is None
    expected = FinesseApiError(
        error_type="Invalid State", error_message="CF_INVALID_OBJECT_STATE", error_data="22"
    )
    assert update.data == ApiErrorList((expected,))


@pytest.mark.parametrize("name", capture_names())
def test_captures_parse_from_bytes_too(name: str) -> None:
    text = notification_text(name)
    assert parse_update(text.encode()) == parse_update(text)
