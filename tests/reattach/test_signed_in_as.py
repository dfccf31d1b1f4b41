"""signed_in_as: a User matches a sign-in only when signing in would change nothing in Finesse."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from connector.finesse.commands import SignIn
from connector.finesse.ids import AgentId, DeviceId
from connector.finesse.models import AgentState, MobileAgent, MobileAgentMode, User
from connector.sessions.reattach import signed_in_as

_digits = st.text(alphabet="0123456789", min_size=1, max_size=8)
_mobile = st.none() | st.builds(MobileAgent, st.sampled_from(MobileAgentMode), _digits)
_device = st.none() | _digits.map(lambda digits: DeviceId(f"SEP{digits}"))
_signed_in_states = st.sampled_from(
    [state for state in AgentState if state not in (AgentState.LOGOUT, AgentState.UNKNOWN)]
)
commands = st.builds(SignIn, extension=_digits, mobile_agent=_mobile, active_device_id=_device)


def user_as(command: SignIn, state: AgentState) -> User:
    """The User Finesse shows after ``command`` was accepted."""
    return User(
        login_id=AgentId("1001"),
        extension=command.extension,
        state=state,
        mobile_agent=command.mobile_agent,
        active_device_id=command.active_device_id,
    )


@given(commands, _signed_in_states)
def test_the_user_a_sign_in_made_matches_it(command: SignIn, state: AgentState) -> None:
    assert signed_in_as(user_as(command, state), command)


@given(commands, st.sampled_from([AgentState.LOGOUT, AgentState.UNKNOWN]))
def test_an_agent_not_known_signed_in_never_matches(command: SignIn, state: AgentState) -> None:
    assert not signed_in_as(user_as(command, state), command)


@given(commands, _signed_in_states, _digits, _mobile)
def test_another_extension_or_mobile_agent_never_matches(
    command: SignIn, state: AgentState, extension: str, mobile: MobileAgent | None
) -> None:
    user = user_as(command, state)
    if extension != command.extension:
        assert not signed_in_as(dataclasses.replace(user, extension=extension), command)
    if mobile != command.mobile_agent:
        assert not signed_in_as(dataclasses.replace(user, mobile_agent=mobile), command)


@given(commands, _signed_in_states, _device)
def test_a_device_counts_only_when_the_sign_in_names_one(
    command: SignIn, state: AgentState, shown: DeviceId | None
) -> None:
    user = dataclasses.replace(user_as(command, state), active_device_id=shown)
    expected = command.active_device_id is None or shown == command.active_device_id
    assert signed_in_as(user, command) is expected


def test_a_device_the_user_does_not_show_is_not_taken_for_the_one_named() -> None:
    command = SignIn("3000", active_device_id=DeviceId("SEP00AA11BB2201"))
    user = dataclasses.replace(user_as(command, AgentState.READY), active_device_id=None)
    assert not signed_in_as(user, command)
