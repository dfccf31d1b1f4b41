"""Link supervision: one agent's notification link to its current Finesse side, kept up.

:class:`LinkSupervisor` runs the session's one long-lived task. It opens a link to the session's side,
hands it the session as its :class:`~connector.sessions.links.NotificationHandler`, and when the link
drops or cannot be opened tries again after a capped exponential backoff with jitter (well inside
Finesse's 60 s). After ``alert_after_failures`` failed attempts the agent gets a ``finesse_link_down``
alert, and a ``recovered`` alert once the link is back; every ``move_after_failures`` failures it asks for
a move to the other side. Finesse refusing the agent's login ends the session (retrying would only lock
the account). After every reconnect the session re-reads the agent, because notifications may have been
missed while the link was down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol

import structlog

from connector.finesse.credentials import Credentials
from connector.finesse.ids import AgentId
from connector.sessions.backoff import reconnect_delay_s
from connector.sessions.context import SessionContext
from connector.sessions.links import LinkFailed, NotificationHandler, NotificationLink, SideName
from connector.sessions.mirror import Draft
from edge.tunnel.errors import ApiError, Unauthorized, Unavailable

_log = structlog.get_logger(__name__)


class LinkHost(NotificationHandler, Protocol):
    """What the supervisor needs of the agent's session (which handles the link's notifications)."""

    @property
    def agent_id(self) -> AgentId: ...

    @property
    def side(self) -> SideName: ...

    @property
    def credentials(self) -> Credentials: ...

    @property
    def ended(self) -> bool: ...

    @property
    def ended_reason(self) -> str | None: ...

    @property
    def signed_in(self) -> bool: ...

    @property
    def moving(self) -> bool:
        """A move to the other side is under way (its link is not up yet)."""

    async def link_established(self, *, reconnected: bool) -> None:
        """A link is up: complete a move, or re-read the agent when ``reconnected``; raises ApiError."""

    def request_move(self, reason: str) -> bool:
        """Move to the other side; false when it cannot."""

    def publish(self, draft: Draft) -> None: ...

    def end(self, reason: str) -> None: ...

    def set_status(self, status: str | None) -> None: ...

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None: ...


class LinkSupervisor:
    """Keeps one agent's notification link up until the session ends."""

    # One per agent session: slots keep thousands of them small.
    __slots__ = ("_alerted_down", "_ctx", "_failures", "_link", "_session", "_task", "_up")

    def __init__(self, *, session: LinkHost, context: SessionContext) -> None:
        self._session = session
        self._ctx = context
        self._link: NotificationLink | None = None
        self._task: asyncio.Task[None] | None = None
        self._up = asyncio.Event()
        self._failures = 0
        self._alerted_down = False

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The supervising task, once started."""
        return self._task

    async def ensure_up(self) -> None:
        """Start supervising (once) and wait, bounded by the connect timeout, for a link to be up;
        401 ``finesse_auth_failed`` when Finesse refused the login, else 503 ``finesse_link_down``."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"finesse-link-{self._session.agent_id}")
        if self._up.is_set():
            return
        timeout_s = self._ctx.config.xmpp.connect_timeout_s + 1
        waiter = asyncio.ensure_future(self._up.wait())
        await asyncio.wait({waiter, self._task}, timeout=timeout_s, return_when="FIRST_COMPLETED")
        if not waiter.done():
            waiter.cancel()
            if self._session.ended_reason == "finesse_auth_failed":
                raise Unauthorized("finesse_auth_failed", "Finesse refused the agent's notification login")
            raise Unavailable("finesse_link_down", "the Finesse notification service cannot be reached")

    def drop_link(self) -> None:
        """Close the current link in the background; supervision goes on (to the session's side)."""
        if self._link is not None:
            self._session.spawn(self._link.close())

    def cancel(self) -> None:
        """Stop supervising (the session ended); the current link is dropped."""
        self.drop_link()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def close_link(self) -> None:
        """Close the current link and wait for it (after the task is stopped)."""
        if self._link is not None:
            await self._link.close()
            self._link = None

    async def _run(self) -> None:
        session = self._session
        reconnecting = False
        while not session.ended:
            side = session.side
            try:
                async with asyncio.timeout(self._ctx.config.xmpp.connect_timeout_s):
                    link = await self._ctx.links.open(
                        side=side, credentials=session.credentials, handler=session
                    )
            except (LinkFailed, TimeoutError) as error:
                failure = error if isinstance(error, LinkFailed) else LinkFailed("timeout")
                if failure.auth_failed:
                    session.publish(Draft("alert", {"kind": "finesse_auth_failed", "side": side}))
                    session.end("finesse_auth_failed")
                    return
                await self._attempt_failed(failure)
                continue
            if session.ended or side != session.side:
                await link.close()
                continue
            self._link = link
            if reconnecting:
                self._ctx.metrics.xmpp_reconnects.inc()
            await self._established(reconnecting)
            reconnecting = True
            lost = await link.wait_closed()
            self._link = None
            self._up.clear()
            if not session.ended:
                _log.warning("finesse_link_lost", agent_id=session.agent_id, side=side, reason=lost.reason)
                if not session.moving:
                    session.set_status("link_down")

    async def _attempt_failed(self, failure: LinkFailed) -> None:
        session = self._session
        self._failures += 1
        failures = self._failures
        session.set_status("link_down")
        _log.warning("finesse_link_failed", agent_id=session.agent_id, side=session.side, failures=failures)
        if failures == self._ctx.config.xmpp.alert_after_failures:
            self._alerted_down = True
            session.publish(
                Draft("alert", {"kind": "finesse_link_down", "side": session.side, "reason": failure.reason})
            )
        failover = self._ctx.config.failover
        move_now = failover.enabled and failures % failover.move_after_failures == 0
        if move_now and session.request_move("xmpp_lost"):
            return
        xmpp = self._ctx.config.xmpp
        await asyncio.sleep(
            reconnect_delay_s(
                failures,
                base_s=xmpp.reconnect_base_s,
                max_s=xmpp.reconnect_max_s,
                jitter=xmpp.reconnect_jitter,
                rng=self._ctx.rng,
            )
        )

    async def _established(self, reconnecting: bool) -> None:
        session = self._session
        try:
            await session.link_established(reconnected=reconnecting or self._failures > 0)
        except ApiError as error:
            _log.warning("resync_failed", agent_id=session.agent_id, code=error.code)
        if self._alerted_down:
            self._alerted_down = False
            session.publish(Draft("alert", {"kind": "recovered", "side": session.side}))
        self._failures = 0
        if session.signed_in:
            session.set_status("active")
        self._up.set()
