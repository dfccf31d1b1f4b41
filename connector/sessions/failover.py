"""Side A/B failover of one agent's session, and the repair of the old side's stale forced logout.

A move is requested when the side goes ``OUT_OF_SERVICE``, its ``finesse`` presence goes unavailable, its
REST service fails, or the notification link keeps failing. :meth:`SideFailover.request_move` switches
the session to the other side at once and drops the current link; the link supervisor then connects to
the new side and calls :meth:`SideFailover.complete_move`, which re-reads the agent there, signs a mobile
agent (or a signed-out agent) in again — Finesse forgets mobile-agent details on a node switch — restores
the state from before the move and tells the agent with a ``failover`` alert.

After a move the old side may still send a forced logout (the documented race). Within
``stale_logout_window_s`` of the move, for an agent who did not ask to sign out, it is treated as stale:
the agent is signed in again, the previous state restored and a ``stale_logout_repaired`` alert published;
if the repair fails the session ends as ``forced_logout``.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

import structlog

from connector.finesse.client import FinesseClient
from connector.finesse.commands import RequestedState, SignIn, StateChange
from connector.finesse.credentials import Credentials
from connector.finesse.ids import AgentId
from connector.finesse.models import AgentState, User
from connector.sessions.context import SessionContext
from connector.sessions.links import SideName
from connector.sessions.logouts import is_forced_logout
from connector.sessions.mirror import AgentMirror, Draft
from edge.tunnel.errors import ApiError

_log = structlog.get_logger(__name__)


class FailoverHost(Protocol):
    """What failover needs of the agent's session."""

    side: SideName

    @property
    def agent_id(self) -> AgentId: ...

    @property
    def mirror(self) -> AgentMirror: ...

    @property
    def ended(self) -> bool: ...

    @property
    def rest(self) -> FinesseClient: ...

    @property
    def credentials(self) -> Credentials: ...

    @property
    def sign_in_command(self) -> SignIn | None: ...

    @property
    def expected_logout(self) -> str | None: ...

    async def sign_in_again(self) -> None:
        """Sign in again with the last accepted sign-in (no-op when there was none)."""

    async def change_state(self, command: StateChange) -> object:
        """Ask Finesse for a state change and wait (bounded) for its confirmation."""

    def publish(self, draft: Draft) -> None: ...

    def end(self, reason: str) -> None: ...

    def drop_link(self) -> None:
        """Close the current notification link, if any (its supervisor reconnects to ``side``)."""

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None: ...


class SideFailover:
    """Moves one agent's session between the sides and repairs the stale logout that may follow."""

    # One per agent session: slots keep thousands of them small.
    __slots__ = ("_ctx", "_moved_at_s", "_moved_from", "_repairing", "_session", "_state_before_move")

    def __init__(
        self,
        *,
        session: FailoverHost,
        context: SessionContext,
    ) -> None:
        self._session = session
        self._ctx = context
        self._moved_from: SideName | None = None
        self._state_before_move: User | None = None
        self._moved_at_s: float | None = None
        self._repairing = False

    @property
    def moving(self) -> bool:
        """A move was requested and the new side's link is not up yet."""
        return self._moved_from is not None

    def request_move(self, reason: str) -> bool:
        """Move the session to the other side (the link supervisor does the work); false if it cannot."""
        session = self._session
        other = self._ctx.sides.other(session.side)
        if session.ended or self._moved_from is not None or not self._ctx.has_side(other):
            return False
        if not self._ctx.config.failover.enabled:
            return False
        _log.warning("failover_started", agent_id=session.agent_id, from_side=session.side, reason=reason)
        self._moved_from = session.side
        self._state_before_move = session.mirror.user
        session.side = other
        self._ctx.sides.active = other
        session.drop_link()
        return True

    def take_move(self) -> SideName | None:
        """The side a requested move left, once (the new side's link is up); None without a move."""
        moved_from, self._moved_from = self._moved_from, None
        return moved_from

    async def complete_move(self, moved_from: SideName) -> None:
        """On the new side: sign a mobile agent (or a signed-out agent) in again, restore, tell the agent."""
        session = self._session
        self._moved_at_s = self._ctx.monotonic()
        self._ctx.metrics.failovers.labels(to_side=session.side).inc()
        user = await session.rest.get_user(session.credentials)
        before = self._state_before_move
        for draft in session.mirror.reconcile(user, session.mirror.dialogs.values()):
            session.publish(draft)
        session.publish(Draft("alert", {"kind": "failover", "from": moved_from, "to": session.side}))
        sign_in = session.sign_in_command
        lost_mobile = sign_in is not None and sign_in.mobile_agent is not None
        if sign_in is not None and (not user.signed_in or (lost_mobile and user.mobile_agent is None)):
            # Finesse forgets mobile-agent details on a node switch: sign in again as mobile agent.
            await session.sign_in_again()
        if before is not None:
            await self._restore_state(before)
        dialogs = await session.rest.get_dialogs(session.credentials)
        for draft in session.mirror.reconcile(session.mirror.user or user, dialogs):
            session.publish(draft)

    def absorbs_user_change(self, before: User | None, user: User) -> bool:
        """True when this User change belongs to a stale forced logout (its repair starts, or runs
        already): the session must not end for it."""
        if self._moved_at_s is None:
            # Never moved: no logout can be stale (and this runs for every User notification).
            return self._repairing
        forced_codes = self._ctx.config.failover.forced_logout_reason_codes
        # Only the change into the forced state counts (Finesse repeats the whole User afterwards), and
        # only from a state worth restoring.
        stale = self._stale_after_move(is_forced_logout(user, forced_codes))
        if stale and before is not None and before.signed_in and not is_forced_logout(before, forced_codes):
            if not self._repairing:
                self._repairing = True
                self._session.spawn(self._repair_stale_logout(before))
            return True
        return self._repairing

    def _stale_after_move(self, forced: bool) -> bool:
        if not forced or self._moved_at_s is None or self._session.expected_logout is not None:
            return False
        window_s = self._ctx.config.failover.stale_logout_window_s
        return self._ctx.monotonic() - self._moved_at_s <= window_s

    async def _repair_stale_logout(self, before: User) -> None:
        """The old side force-logged the agent out after the move: sign in again, restore the state."""
        session = self._session
        _log.warning("stale_logout_detected", agent_id=session.agent_id, side=session.side)
        try:
            await session.sign_in_again()
            await self._restore_state(before)
        except ApiError as error:
            _log.error("stale_logout_repair_failed", agent_id=session.agent_id, code=error.code)
            self._repairing = False
            session.end("forced_logout")
            return
        self._repairing = False
        session.publish(Draft("alert", {"kind": "stale_logout_repaired", "side": session.side}))

    async def _restore_state(self, before: User) -> None:
        current = self._session.mirror.user
        if before.state not in (AgentState.READY, AgentState.NOT_READY):
            return
        if (
            current is not None
            and current.state is before.state
            and (before.state is AgentState.READY or current.reason_code_id == before.reason_code_id)
        ):
            return
        reason = before.reason_code_id if before.state is AgentState.NOT_READY else None
        await self._session.change_state(StateChange(RequestedState(before.state.value), reason))
