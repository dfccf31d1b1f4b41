"""Presence grace: what happens to an agent's Finesse state when the app has gone away.

When the agent's last subscriber (event socket) leaves, :class:`PresenceGrace` starts a timer of
``disconnect_grace_s``. A subscriber returning inside it changes nothing in Finesse. When it expires with
nobody back, the configured :class:`~connector.config.GracePolicy` applies: ``keep`` does nothing,
``not_ready`` asks for NOT_READY with its reason code (during a call Finesse makes that the pending state),
``logout`` goes NOT_READY first when needed (CCE signs out only from NOT_READY) and then signs out with its
reason code, waiting for the call to end when the agent is on one.

The grace and the policy are read when they are used (``settings`` is called when the timer starts and
when it expires), so a configuration reload applies to sessions that exist already.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import structlog

from connector.config import GracePolicy, SessionsConfig
from connector.finesse.commands import RequestedState, StateChange
from connector.finesse.ids import AgentId, ReasonCodeId
from connector.finesse.models import AgentState
from connector.sessions.mirror import AgentMirror
from edge.tunnel.errors import ApiError

_log = structlog.get_logger(__name__)


class GraceHost(Protocol):
    """What the grace needs of the agent's session."""

    @property
    def agent_id(self) -> AgentId: ...

    @property
    def mirror(self) -> AgentMirror: ...

    @property
    def ended(self) -> bool: ...

    @property
    def signed_in(self) -> bool: ...

    @property
    def subscriber_count(self) -> int: ...

    async def change_state(self, command: StateChange) -> object:
        """Ask Finesse for a state change and wait (bounded) for its confirmation."""

    def expect_logout(self, why: str) -> None:
        """The LOGOUT that is coming is expected (``why`` names it in ``session.ended``)."""

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` as a background task of the session."""


class PresenceGrace:
    """The grace timer of one agent and the policy it applies when it expires."""

    # One per agent session: slots keep thousands of them small.
    __slots__ = ("_deferred", "_policy", "_session", "_settings", "_timer")

    def __init__(self, *, session: GraceHost, settings: Callable[[], SessionsConfig]) -> None:
        self._session = session
        self._settings = settings
        # The policy of the last expiry: a deferred policy applies as it was when the grace expired.
        self._policy: GracePolicy = settings().grace_policy
        self._timer: asyncio.TimerHandle | None = None
        # The policy waits for the agent's call to end (see call_may_have_ended).
        self._deferred = False

    def start(self) -> None:
        """Start the timer (no-op when it runs already, or the agent is not signed in or has ended)."""
        session = self._session
        if session.ended or self._timer is not None or not session.signed_in:
            return
        self._timer = asyncio.get_running_loop().call_later(
            self._settings().disconnect_grace_s, self._expired
        )

    def cancel(self) -> None:
        """Stop the timer; the policy will not apply (the session ended)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def subscriber_returned(self) -> None:
        """The app is back: nothing changes in Finesse, and a deferred policy is dropped."""
        self.cancel()
        self._deferred = False

    def call_may_have_ended(self) -> None:
        """A notification was applied: a policy deferred for a call applies once the call is over."""
        session = self._session
        if self._deferred and not session.mirror.on_call and not session.ended:
            self._deferred = False
            session.spawn(self._apply())

    def _expired(self) -> None:
        self._timer = None
        session = self._session
        if session.ended or session.subscriber_count > 0:
            return
        self._policy = self._settings().grace_policy
        action = self._policy.action
        _log.info("grace_expired", agent_id=session.agent_id, policy=action, on_call=session.mirror.on_call)
        if action == "keep":
            return
        if session.mirror.on_call and action == "logout":
            # CCE signs out only from NOT_READY, never during a call: wait for the call to end.
            self._deferred = True
            return
        # NOT_READY during a call becomes Finesse's pending state, applied when the call ends.
        session.spawn(self._apply())

    async def _apply(self) -> None:
        session = self._session
        policy = self._policy
        user = session.mirror.user
        if session.ended or user is None or not user.signed_in or session.subscriber_count > 0:
            return
        try:
            if policy.action == "not_ready":
                if user.state is not AgentState.NOT_READY and user.pending_state is not AgentState.NOT_READY:
                    await session.change_state(
                        StateChange(RequestedState.NOT_READY, _reason(policy.reason_code_id))
                    )
                return
            if user.state is not AgentState.NOT_READY:
                await session.change_state(
                    StateChange(RequestedState.NOT_READY, _reason(policy.not_ready_reason_code_id))
                )
            session.expect_logout("idle_grace")
            await session.change_state(StateChange(RequestedState.LOGOUT, _reason(policy.reason_code_id)))
        except ApiError as error:
            _log.error("grace_policy_failed", agent_id=session.agent_id, code=error.code)


def _reason(reason_code_id: str | None) -> ReasonCodeId | None:
    return ReasonCodeId(reason_code_id) if reason_code_id else None
