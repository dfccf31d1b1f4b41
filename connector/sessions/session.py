"""One signed-in agent's Finesse session: REST credential, XMPP notification link, events, grace, failover.

The session's only long-lived task is its link supervisor (:meth:`AgentSession._run_link`): it keeps one
notification link to the current Finesse side up — reconnecting with backoff and jitter, alerting the agent
after repeated failures, moving to the other side when this one does not come back — and re-reads the
agent's User and dialogs after every reconnect, because notifications may have been missed. Notifications
are handled synchronously as they arrive (parse → confirm waiting requests → mirror → event log), so their
order is kept and no queue grows.

Actions (:meth:`AgentSession.act`) send one REST request with a fresh ``requestId`` and wait, bounded by
``action_timeout_s``, for the notification that settles it: 200 with the new object, a problem carrying
Finesse's words, or 202 ``pending`` with the request id (the outcome still arrives as an event).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog

from connector.finesse.client import Accepted, FinesseClient, new_request_id
from connector.finesse.commands import DialogAction, MakeCall, RequestedState, SignIn, StateChange
from connector.finesse.credentials import Credentials
from connector.finesse.errors import FinesseProtocolError, SideOutOfService, SideUnreachable
from connector.finesse.ids import AgentId, DialogId, ReasonCodeId, RequestId
from connector.finesse.models import (
    AgentState,
    Dialog,
    DialogList,
    ReasonCode,
    ReasonCodeCategory,
    SystemInfo,
    Update,
    UpdateEvent,
    User,
    WrapUpReason,
)
from connector.finesse.parse import parse_update
from connector.sessions.backoff import reconnect_delay_s
from connector.sessions.context import SessionContext
from connector.sessions.eventlog import EventLog, EventSink
from connector.sessions.links import LinkFailed, NotificationLink, SideName
from connector.sessions.mirror import AgentMirror, Draft, dialog_id_from_source
from connector.sessions.outcomes import is_invalid_device, problem_for
from connector.sessions.pending import FinesseRejected, PendingRequests
from connector.sessions.views import JsonObject, device_view, reason_code_view, wrap_up_reason_view
from edge.tunnel.errors import ApiError, Conflict, NotFound, Unauthorized, Unavailable

_log = structlog.get_logger(__name__)

SUPERVISOR_REASON_CODE = 999
# Dialog ids the agent may still wrap up after the call left its dialog list.
_RECENTLY_ENDED = 4


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer to the public API: HTTP status and JSON body."""

    status: int
    body: Any


class AgentSession:
    """The session of one agent; created at sign-in, ended by sign-out, forced logout, grace or lock."""

    def __init__(
        self,
        *,
        agent_id: AgentId,
        credentials: Credentials,
        context: SessionContext,
        on_ended: Callable[[AgentSession], None],
    ) -> None:
        self.agent_id = agent_id
        self._ctx = context
        self._credentials = credentials
        self._on_ended = on_ended
        self.side: SideName = context.sides.active
        self.mirror = AgentMirror(agent_id)
        self.events = EventLog(
            agent_id=agent_id,
            capacity=context.config.sessions.event_buffer_size,
            snapshot=self.mirror.snapshot,
            now=context.now,
            on_published=context.metrics.event_published,
        )
        self._pending = PendingRequests(
            error_window_s=2 * context.config.finesse.action_timeout_s, monotonic=context.monotonic
        )
        self._sign_in: SignIn | None = None
        self._reason_codes: dict[ReasonCodeCategory, tuple[ReasonCode, ...]] = {}
        self._wrap_up_reasons: tuple[WrapUpReason, ...] | None = None
        self._recently_ended: deque[DialogId] = deque(maxlen=_RECENTLY_ENDED)
        self._link: NotificationLink | None = None
        self._link_task: asyncio.Task[None] | None = None
        self._link_up = asyncio.Event()
        self._link_failures = 0
        self._alerted_link_down = False
        self._moved_from: SideName | None = None
        self._state_before_move: User | None = None
        self._moved_at_s: float | None = None
        self._grace: asyncio.TimerHandle | None = None
        self._policy_deferred = False
        # Why the LOGOUT that is coming is expected (signed_out, idle_grace); None: a LOGOUT is forced.
        self._expected_logout: str | None = None
        self._repairing = False
        self._background: set[asyncio.Task[Any]] = set()
        self.status: str | None = None
        self.ended_reason: str | None = None
        self._set_status("signing_in")

    def __repr__(self) -> str:
        return f"AgentSession(agent_id={self.agent_id!r}, side={self.side!r}, status={self.status!r})"

    # --- credentials, subscribers, lifecycle ----------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self.ended_reason is not None

    @property
    def signed_in(self) -> bool:
        """True once a sign-in through this session was accepted by Finesse (confirmed or pending)."""
        return self._sign_in is not None

    @property
    def _rest(self) -> FinesseClient:
        return self._ctx.finesse[self.side]

    @property
    def _user_uri(self) -> str:
        return f"/finesse/api/User/{self.agent_id}"

    def use_credentials(self, credentials: Credentials) -> None:
        """Replace the credential (a newer bearer token, or the password given at a new sign-in)."""
        self._credentials = credentials

    def attach(self, sink: EventSink, since: int | None) -> None:
        """A subscriber (event socket) arrived: the grace, if running, stops; it resumes from ``since``."""
        if self.ended:
            raise NotFound("no_session", "the agent is not signed in through fingress")
        self._cancel_grace()
        self._policy_deferred = False
        self.events.subscribe(sink, since)

    def detach(self, sink: EventSink) -> None:
        """A subscriber left; the last one leaving starts the grace timer."""
        self.events.unsubscribe(sink)
        if self.events.subscriber_count == 0:
            self._start_grace()

    async def close(self, reason: str = "connector_stopped") -> None:
        """End the session without touching the agent's state in Finesse (shutdown, failed sign-in)."""
        self._end(reason, publish=False)
        await self._stop_tasks()

    # --- sign-in and reads ---------------------------------------------------------------------------------

    async def sign_in(self, command: SignIn, credentials: Credentials | None = None) -> Reply:
        """Sign the agent in (again); 409 ``device_selection_required`` lists the devices to choose from.

        New ``credentials`` replace the session's only once Finesse has accepted them, so a mistyped
        password at a repeated sign-in cannot break (or lock) the running session."""
        await self._read_user_choosing_side(credentials or self._credentials)
        if credentials is not None:
            self._credentials = credentials
        await self._ensure_link()
        try:
            reply = await self.act(
                "sign_in",
                source=self._user_uri,
                accepts=lambda update: _signed_in_on(update, command.extension),
                send=lambda request_id: self._rest.sign_in(self._credentials, command, request_id=request_id),
                render=self._render_agent,
            )
        except Conflict as error:
            if error.code != "invalid_device":
                raise
            devices = await self._rest.get_devices(self._credentials, extension=command.extension)
            raise Conflict(
                "device_selection_required",
                "this extension has several devices: sign in again with one of them as device_id",
                devices=[device_view(device) for device in devices],
            ) from error
        self._sign_in = command
        self._expected_logout = None
        self._set_status("active")
        await self._refresh_lists()
        if self.events.subscriber_count == 0:
            self._start_grace()
        return reply

    async def _read_user_choosing_side(self, credentials: Credentials) -> None:
        """Read the User (this checks the credential once, before any XMPP attempt could count against the
        account lock), moving to the other side when this one is out of service or unreachable."""
        try:
            user = await self._rest.get_user(credentials)
        except (SideOutOfService, SideUnreachable):
            other = self._ctx.sides.other(self.side)
            if not self._ctx.has_side(other) or self._link_task is not None:
                raise
            self.side = self._ctx.sides.active = other
            user = await self._rest.get_user(credentials)
        for draft in self.mirror.reconcile(user, self.mirror.dialogs.values()):
            self._publish(draft)

    async def _ensure_link(self) -> None:
        if self._link_task is None:
            self._link_task = asyncio.create_task(self._run_link(), name=f"finesse-link-{self.agent_id}")
        if self._link_up.is_set():
            return
        timeout_s = self._ctx.config.xmpp.connect_timeout_s + 1
        waiter = asyncio.ensure_future(self._link_up.wait())
        await asyncio.wait({waiter, self._link_task}, timeout=timeout_s, return_when="FIRST_COMPLETED")
        if not waiter.done():
            waiter.cancel()
            if self.ended_reason == "finesse_auth_failed":
                raise Unauthorized("finesse_auth_failed", "Finesse refused the agent's notification login")
            raise Unavailable("finesse_link_down", "the Finesse notification service cannot be reached")

    async def agent(self) -> Reply:
        view = self.mirror.agent_json()
        if view is None:
            view = self._render_agent(None)
        return Reply(200, view)

    async def reason_codes(self, category: ReasonCodeCategory) -> Reply:
        codes = self._reason_codes.get(category)
        if codes is None:
            codes = await self._rest.get_reason_codes(self._credentials, category)
            self._reason_codes[category] = codes
        return Reply(200, {"reason_codes": [reason_code_view(code) for code in codes]})

    async def wrap_up_reasons(self) -> Reply:
        if self._wrap_up_reasons is None:
            self._wrap_up_reasons = await self._rest.get_wrap_up_reasons(self._credentials)
        return Reply(200, {"wrap_up_reasons": [wrap_up_reason_view(r) for r in self._wrap_up_reasons]})

    def dialogs(self) -> Reply:
        snapshot = self.mirror.snapshot()
        return Reply(200, {"dialogs": snapshot["dialogs"]})

    async def _refresh_lists(self) -> None:
        """Reason codes and wrap-up reasons are cached per agent and refreshed at every sign-in."""
        try:
            not_ready, logout, wrap_up = await asyncio.gather(
                self._rest.get_reason_codes(self._credentials, ReasonCodeCategory.NOT_READY),
                self._rest.get_reason_codes(self._credentials, ReasonCodeCategory.LOGOUT),
                self._rest.get_wrap_up_reasons(self._credentials),
            )
        except ApiError as error:
            # The lists are read again on demand; a failure here must not fail the sign-in.
            _log.warning("reason_lists_unavailable", agent_id=self.agent_id, code=error.code)
            return
        self._reason_codes = {ReasonCodeCategory.NOT_READY: not_ready, ReasonCodeCategory.LOGOUT: logout}
        self._wrap_up_reasons = wrap_up

    # --- actions -----------------------------------------------------------------------------------------

    async def change_state(self, command: StateChange) -> Reply:
        wanted = AgentState(command.state.value)
        signing_out = command.state is RequestedState.LOGOUT
        if signing_out and self._expected_logout is None:
            self._expected_logout = "signed_out"
        try:
            return await self.act(
                "sign_out" if signing_out else "change_state",
                source=self._user_uri,
                accepts=lambda update: _user_heading_to(update, wanted),
                send=lambda request_id: self._rest.change_state(
                    self._credentials, command, request_id=request_id
                ),
                render=self._render_agent,
            )
        except ApiError:
            if signing_out and not self.ended:
                self._expected_logout = None
            raise

    async def make_call(self, to: str) -> Reply:
        command = MakeCall(from_address=self._own_extension(), to_address=to)
        known = set(self.mirror.dialogs)
        return await self.act(
            "make_call",
            source=f"{self._user_uri}/Dialogs",
            accepts=lambda update: any(d.id not in known for d in _dialogs_in(update)),
            send=lambda request_id: self._rest.make_call(self._credentials, command, request_id=request_id),
            render=lambda update: self._render_dialog(update, None),
        )

    async def dialog_action(self, dialog_id: DialogId, build: Callable[[str], DialogAction]) -> Reply:
        """Act on one of the agent's own dialogs; any other id is 404 ``dialog_not_found``, never sent."""
        command = build(self._own_extension())
        wrap_up_only = command.action.value == "UPDATE_CALL_DATA"
        if dialog_id not in self.mirror.dialogs and not (wrap_up_only and dialog_id in self._recently_ended):
            raise NotFound("dialog_not_found", "the agent has no such dialog")
        return await self.act(
            f"dialog_{command.action.value.lower()}",
            source=f"/finesse/api/Dialog/{dialog_id}",
            accepts=lambda update: _concerns_dialog(update, dialog_id),
            send=lambda request_id: self._rest.dialog_action(
                self._credentials, dialog_id, command, request_id=request_id
            ),
            render=lambda update: self._render_dialog(update, dialog_id),
        )

    async def act(
        self,
        operation: str,
        *,
        source: str,
        accepts: Callable[[Update], bool],
        send: Callable[[RequestId], Awaitable[Accepted]],
        render: Callable[[Update], JsonObject],
    ) -> Reply:
        """Send one asynchronous request and wait (bounded) for the notification that settles it."""
        if self.ended:
            raise NotFound("no_session", "the agent is not signed in through fingress")
        request_id = new_request_id()
        expectation = self._pending.expect(source=source, accepts=accepts)
        self._pending.bind(expectation, request_id)
        outcome = "failed"
        try:
            try:
                await send(request_id)
            except (SideOutOfService, SideUnreachable):
                self._request_move("rest_unavailable")
                raise
            done, _ = await asyncio.wait(
                {expectation.future}, timeout=self._ctx.config.finesse.action_timeout_s
            )
            if not done:
                outcome = "pending"
                return Reply(202, {"status": "pending", "request_id": request_id})
            try:
                update = expectation.future.result()
            except FinesseRejected as rejected:
                outcome = "rejected"
                if is_invalid_device(rejected) and operation == "sign_in":
                    raise Conflict("invalid_device", "Finesse needs a device choice") from rejected
                raise problem_for(rejected) from rejected
            outcome = "confirmed"
            return Reply(200, render(update))
        finally:
            self._pending.discard(expectation)
            self._ctx.metrics.actions.labels(operation=operation, outcome=outcome).inc()
            # The audit line: who did what, with which request id, and how it ended. Never a secret.
            _log.info(
                "agent_action",
                agent_id=self.agent_id,
                operation=operation,
                request_id=request_id,
                outcome=outcome,
                side=self.side,
            )

    def _own_extension(self) -> str:
        extension = self.mirror.extension
        if not extension:
            raise Conflict("not_signed_in", "sign in with an extension first")
        return extension

    def _render_agent(self, update: Update | None) -> JsonObject:
        if update is not None and isinstance(update.data, User):
            return self.mirror.agent_json() or {}
        return self.mirror.agent_json() or {"id": self.agent_id, "signed_in": False}

    def _render_dialog(self, update: Update, dialog_id: DialogId | None) -> JsonObject:
        dialogs = _dialogs_in(update)
        chosen = next((d for d in dialogs if dialog_id is None or d.id == dialog_id), None)
        if chosen is None and dialogs:
            chosen = dialogs[0]
        wanted = chosen.id if chosen is not None else dialog_id
        current = self.mirror.dialogs.get(wanted) if wanted is not None else None
        if current is not None:
            return self.mirror.dialog_json(current)
        if chosen is not None:
            return {**self.mirror.dialog_json(chosen), "ended": True}
        return {"id": wanted, "ended": True}

    # --- notifications (NotificationHandler) --------------------------------------------------------------

    def notification(self, node: str, text: str) -> None:
        try:
            update = parse_update(text)
        except FinesseProtocolError as error:
            _log.warning("notification_unreadable", agent_id=self.agent_id, node=node, reason=error.reason)
            return
        self.apply(update)

    def presence(self, jid: str, available: bool) -> None:
        # The ``finesse`` user going unavailable means the Finesse webapp on this side is down.
        if not available and jid.split("/", 1)[0].split("@", 1)[0].lower() == "finesse":
            self._request_move("finesse_unavailable")

    def apply(self, update: Update) -> None:
        """Take one notification into account (in arrival order)."""
        if self.ended:
            return
        if isinstance(update.data, SystemInfo):
            if not update.data.in_service:
                self._request_move("out_of_service")
            return
        before = self.mirror.user
        settled = self._pending.offer(update)
        for draft in self.mirror.apply(update):
            if draft.type == "request.failed" and settled is not None and draft.data["request_id"] is None:
                draft.data["request_id"] = settled.request_id
            if draft.type == "dialog.ended":
                self._recently_ended.append(DialogId(str(draft.data["id"])))
            self._publish(draft)
        if isinstance(update.data, User):
            self._user_changed(before, update.data)
        if self._policy_deferred and not self.mirror.on_call and not self.ended:
            self._policy_deferred = False
            self._spawn(self._apply_grace_policy())

    def _publish(self, draft: Draft) -> None:
        self.events.publish(draft.type, draft.data)

    def _user_changed(self, before: User | None, user: User) -> None:
        forced_codes = self._ctx.config.failover.forced_logout_reason_codes
        reason_code = _reason_code_number(user)
        forced = reason_code in forced_codes
        # Only the change into the forced state counts (Finesse repeats the whole User afterwards), and
        # only from a state worth restoring.
        was_forced = before is not None and _reason_code_number(before) in forced_codes
        if self._stale_after_move(forced) and before is not None and before.signed_in and not was_forced:
            if not self._repairing:
                self._repairing = True
                self._spawn(self._repair_stale_logout(before))
            return
        if self._repairing:
            return
        if user.state is not AgentState.LOGOUT or self._sign_in is None:
            return
        if self._expected_logout is not None:
            self._end(self._expected_logout)
        elif reason_code == SUPERVISOR_REASON_CODE:
            self._end("supervisor")
        else:
            self._end("forced_logout")

    def _stale_after_move(self, forced: bool) -> bool:
        if not forced or self._moved_at_s is None or self._expected_logout is not None:
            return False
        window_s = self._ctx.config.failover.stale_logout_window_s
        return self._ctx.monotonic() - self._moved_at_s <= window_s

    async def _repair_stale_logout(self, before: User) -> None:
        """The old side force-logged the agent out after the move: sign in again, restore the state."""
        _log.warning("stale_logout_detected", agent_id=self.agent_id, side=self.side)
        try:
            await self._sign_in_again()
            await self._restore_state(before)
        except ApiError as error:
            _log.error("stale_logout_repair_failed", agent_id=self.agent_id, code=error.code)
            self._repairing = False
            self._end("forced_logout")
            return
        self._repairing = False
        self._publish(Draft("alert", {"kind": "stale_logout_repaired", "side": self.side}))

    async def _sign_in_again(self) -> None:
        if self._sign_in is None:
            return
        command = self._sign_in
        await self.act(
            "sign_in_again",
            source=self._user_uri,
            accepts=lambda update: _signed_in_on(update, command.extension),
            send=lambda request_id: self._rest.sign_in(self._credentials, command, request_id=request_id),
            render=self._render_agent,
        )

    async def _restore_state(self, before: User) -> None:
        current = self.mirror.user
        if before.state not in (AgentState.READY, AgentState.NOT_READY):
            return
        if (
            current is not None
            and current.state is before.state
            and (before.state is AgentState.READY or current.reason_code_id == before.reason_code_id)
        ):
            return
        reason = before.reason_code_id if before.state is AgentState.NOT_READY else None
        await self.change_state(StateChange(RequestedState(before.state.value), reason))

    # --- the notification link ------------------------------------------------------------------------------

    async def _run_link(self) -> None:
        """Keep the notification link up until the session ends (the session's one long-lived task)."""
        xmpp = self._ctx.config.xmpp
        reconnecting = False
        while not self.ended:
            side = self.side
            try:
                async with asyncio.timeout(xmpp.connect_timeout_s):
                    link = await self._ctx.links.open(side=side, credentials=self._credentials, handler=self)
            except (LinkFailed, TimeoutError) as error:
                failure = error if isinstance(error, LinkFailed) else LinkFailed("timeout")
                if failure.auth_failed:
                    self._publish(Draft("alert", {"kind": "finesse_auth_failed", "side": side}))
                    self._end("finesse_auth_failed")
                    return
                await self._link_attempt_failed(failure)
                continue
            if self.ended or side != self.side:
                await link.close()
                continue
            self._link = link
            if reconnecting:
                self._ctx.metrics.xmpp_reconnects.inc()
            await self._link_established(reconnecting)
            reconnecting = True
            lost = await link.wait_closed()
            self._link = None
            self._link_up.clear()
            if not self.ended:
                _log.warning("finesse_link_lost", agent_id=self.agent_id, side=side, reason=lost.reason)
                if self._moved_from is None:
                    self._set_status("link_down")

    async def _link_attempt_failed(self, failure: LinkFailed) -> None:
        self._link_failures += 1
        failures = self._link_failures
        self._set_status("link_down")
        _log.warning("finesse_link_failed", agent_id=self.agent_id, side=self.side, failures=failures)
        if failures == self._ctx.config.xmpp.alert_after_failures:
            self._alerted_link_down = True
            self._publish(
                Draft("alert", {"kind": "finesse_link_down", "side": self.side, "reason": failure.reason})
            )
        failover = self._ctx.config.failover
        move_now = failover.enabled and failures % failover.move_after_failures == 0
        if move_now and self._request_move("xmpp_lost"):
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

    async def _link_established(self, reconnecting: bool) -> None:
        moved_from = self._moved_from
        self._moved_from = None
        try:
            if moved_from is not None:
                await self._complete_move(moved_from)
            elif reconnecting or self._link_failures:
                await self._resync()
        except ApiError as error:
            _log.warning("resync_failed", agent_id=self.agent_id, code=error.code)
        if self._alerted_link_down:
            self._alerted_link_down = False
            self._publish(Draft("alert", {"kind": "recovered", "side": self.side}))
        self._link_failures = 0
        if self._sign_in is not None:
            self._set_status("active")
        self._link_up.set()

    async def _resync(self) -> None:
        """Re-read the User and dialogs: notifications may have been missed while the link was down."""
        user, dialogs = await asyncio.gather(
            self._rest.get_user(self._credentials), self._rest.get_dialogs(self._credentials)
        )
        before = self.mirror.user
        for draft in self.mirror.reconcile(user, dialogs):
            self._publish(draft)
        self._user_changed(before, user)

    # --- failover -----------------------------------------------------------------------------------------

    def _request_move(self, reason: str) -> bool:
        """Move the session to the other side (the link supervisor does the work); false if it cannot."""
        other = self._ctx.sides.other(self.side)
        if self.ended or self._moved_from is not None or not self._ctx.has_side(other):
            return False
        if not self._ctx.config.failover.enabled:
            return False
        _log.warning("failover_started", agent_id=self.agent_id, from_side=self.side, reason=reason)
        self._moved_from = self.side
        self._state_before_move = self.mirror.user
        self.side = other
        self._ctx.sides.active = other
        if self._link is not None:
            self._spawn(self._link.close())
        return True

    async def _complete_move(self, moved_from: SideName) -> None:
        """On the new side: sign a mobile agent (or a signed-out agent) in again, restore, tell the agent."""
        self._moved_at_s = self._ctx.monotonic()
        self._ctx.metrics.failovers.labels(to_side=self.side).inc()
        user = await self._rest.get_user(self._credentials)
        before = self._state_before_move
        for draft in self.mirror.reconcile(user, self.mirror.dialogs.values()):
            self._publish(draft)
        self._publish(Draft("alert", {"kind": "failover", "from": moved_from, "to": self.side}))
        lost_mobile = self._sign_in is not None and self._sign_in.mobile_agent is not None
        if self._sign_in is not None and (not user.signed_in or (lost_mobile and user.mobile_agent is None)):
            # Finesse forgets mobile-agent details on a node switch: sign in again as mobile agent.
            await self._sign_in_again()
        if before is not None:
            await self._restore_state(before)
        dialogs = await self._rest.get_dialogs(self._credentials)
        for draft in self.mirror.reconcile(self.mirror.user or user, dialogs):
            self._publish(draft)

    # --- presence grace -----------------------------------------------------------------------------------

    def _start_grace(self) -> None:
        if self.ended or self._grace is not None or self._sign_in is None:
            return
        grace_s = self._ctx.config.sessions.disconnect_grace_s
        self._grace = asyncio.get_running_loop().call_later(grace_s, self._grace_expired)

    def _cancel_grace(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def _grace_expired(self) -> None:
        self._grace = None
        if self.ended or self.events.subscriber_count > 0:
            return
        policy = self._ctx.config.sessions.grace_policy
        _log.info("grace_expired", agent_id=self.agent_id, policy=policy.action, on_call=self.mirror.on_call)
        if policy.action == "keep":
            return
        if self.mirror.on_call and policy.action == "logout":
            # CCE signs out only from NOT_READY, never during a call: wait for the call to end.
            self._policy_deferred = True
            return
        # NOT_READY during a call becomes Finesse's pending state, applied when the call ends.
        self._spawn(self._apply_grace_policy())

    async def _apply_grace_policy(self) -> None:
        policy = self._ctx.config.sessions.grace_policy
        user = self.mirror.user
        if self.ended or user is None or not user.signed_in or self.events.subscriber_count > 0:
            return
        try:
            if policy.action == "not_ready":
                if user.state is not AgentState.NOT_READY and user.pending_state is not AgentState.NOT_READY:
                    reason = ReasonCodeId(policy.reason_code_id) if policy.reason_code_id else None
                    await self.change_state(StateChange(RequestedState.NOT_READY, reason))
                return
            if user.state is not AgentState.NOT_READY:
                step = policy.not_ready_reason_code_id
                await self.change_state(
                    StateChange(RequestedState.NOT_READY, ReasonCodeId(step) if step else None)
                )
            self._expected_logout = "idle_grace"
            reason = ReasonCodeId(policy.reason_code_id) if policy.reason_code_id else None
            await self.change_state(StateChange(RequestedState.LOGOUT, reason))
        except ApiError as error:
            _log.error("grace_policy_failed", agent_id=self.agent_id, code=error.code)

    # --- ending -------------------------------------------------------------------------------------------

    def _end(self, reason: str, *, publish: bool = True) -> None:
        if self.ended:
            return
        self.ended_reason = reason
        _log.info("session_ended", agent_id=self.agent_id, reason=reason)
        if publish:
            self.events.publish("session.ended", {"reason": reason})
        self._cancel_grace()
        self._pending.fail_all(Unavailable("session_ended", f"the session ended ({reason})"))
        self.events.close()
        self._set_status(None)
        if self._link is not None:
            self._spawn(self._link.close())
        if self._link_task is not None and self._link_task is not asyncio.current_task():
            self._link_task.cancel()
        self._on_ended(self)

    async def _stop_tasks(self) -> None:
        tasks = [task for task in (self._link_task, *self._background) if task is not None]
        for task in tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for task in tasks:
            if task is not asyncio.current_task():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._link is not None:
            await self._link.close()
            self._link = None

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _set_status(self, status: str | None) -> None:
        if status == self.status:
            return
        self._ctx.metrics.session_moved(self.status, status)
        self.status = status


# --- matching notifications to requests ---------------------------------------------------------------------


def _signed_in_on(update: Update, extension: str) -> bool:
    data = update.data
    return isinstance(data, User) and data.signed_in and data.extension == extension


def _user_heading_to(update: Update, wanted: AgentState) -> bool:
    data = update.data
    return isinstance(data, User) and (data.state is wanted or data.pending_state is wanted)


def _dialogs_in(update: Update) -> tuple[Dialog, ...]:
    if isinstance(update.data, Dialog):
        return (update.data,)
    if isinstance(update.data, DialogList):
        return update.data.dialogs
    return ()


def _concerns_dialog(update: Update, dialog_id: DialogId) -> bool:
    if any(dialog.id == dialog_id for dialog in _dialogs_in(update)):
        return True
    return update.event is UpdateEvent.DELETE and dialog_id_from_source(update.source) == dialog_id


def _reason_code_number(user: User) -> int | None:
    if user.reason_code is not None and user.reason_code.code is not None:
        return user.reason_code.code
    if user.reason_code_id is not None and user.reason_code_id.isdigit():
        return int(user.reason_code_id)
    return None
