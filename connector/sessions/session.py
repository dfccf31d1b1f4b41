"""One signed-in agent's Finesse session: its REST credential, its Finesse operations and its events.

:class:`AgentSession` is the core the other parts of a session plug into: the link supervisor
(:mod:`~connector.sessions.supervision`) keeps its notification link up and calls it back for every
notification; the presence grace (:mod:`~connector.sessions.grace`) applies the policy when the app has
been gone too long; side failover (:mod:`~connector.sessions.failover`) moves it to the other Finesse side
and repairs a stale forced logout. Notifications are handled synchronously as they arrive (parse →
confirm waiting requests → mirror → event log), so their order is kept and no queue grows.

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
from connector.finesse.credentials import BearerCredentials, Credentials
from connector.finesse.errors import FinesseProtocolError, SideOutOfService, SideUnreachable
from connector.finesse.ids import AgentId, DialogId, RequestId
from connector.finesse.models import (
    AgentState,
    ReasonCode,
    ReasonCodeCategory,
    SystemInfo,
    Update,
    User,
    WrapUpReason,
)
from connector.finesse.parse import parse_update
from connector.finesse.participant_memo import ParticipantMemo
from connector.sessions.context import SessionContext
from connector.sessions.eventlog import EventLog, EventSink
from connector.sessions.failover import SideFailover
from connector.sessions.grace import PresenceGrace
from connector.sessions.links import SideName
from connector.sessions.logouts import ended_reason
from connector.sessions.matching import concerns_dialog, dialogs_in, signed_in_on, user_heading_to
from connector.sessions.mirror import AgentMirror, Draft
from connector.sessions.outcomes import is_invalid_device, problem_for
from connector.sessions.pending import FinesseRejected, PendingRequests
from connector.sessions.reattach import signed_in_as
from connector.sessions.supervision import LinkSupervisor
from connector.sessions.views import JsonObject, device_view, reason_code_view, wrap_up_reason_view
from edge.tunnel.errors import ApiError, Conflict, NotFound, Unavailable

_log = structlog.get_logger(__name__)

# Dialog ids the agent may still wrap up after the call left its dialog list.
_RECENTLY_ENDED = 4
# Reads of User + Dialogs a resync makes at most while notifications keep overtaking them; the last one
# is taken whatever came meanwhile (notifications about one agent come seconds apart, not milliseconds).
RESYNC_READS = 3


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
            first_seq=context.stream_origins.next_origin(),
        )
        self._pending = PendingRequests(
            error_window_s=2 * context.config.finesse.action_timeout_s, monotonic=context.monotonic
        )
        self._sign_in: SignIn | None = None
        self._reason_codes: dict[ReasonCodeCategory, tuple[ReasonCode, ...]] = {}
        self._wrap_up_reasons: tuple[WrapUpReason, ...] | None = None
        self._recently_ended: deque[DialogId] = deque(maxlen=_RECENTLY_ENDED)
        self._links = LinkSupervisor(session=self, context=context)
        self._failover = SideFailover(session=self, context=context)
        # Read at use time (not copied): a reload changes the grace of existing sessions too.
        self._grace = PresenceGrace(session=self, settings=lambda: context.config.sessions)
        # Why the LOGOUT that is coming is expected (signed_out, idle_grace); None: a LOGOUT is forced.
        self._expected_logout: str | None = None
        # Notifications applied so far: a re-read tells from it whether one overtook it (see _resync).
        self._notifications_applied = 0
        # Call-data updates repeat the participants verbatim: they are not parsed again.
        self._participant_memo = ParticipantMemo()
        self._background: set[asyncio.Task[Any]] = set()
        self.status: str | None = None
        self.ended_reason: str | None = None
        self.set_status("signing_in")

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
    def sign_in_command(self) -> SignIn | None:
        """The last sign-in Finesse accepted through this session."""
        return self._sign_in

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    @property
    def rest(self) -> FinesseClient:
        """The REST client of the session's current side."""
        return self._ctx.finesse[self.side]

    @property
    def subscriber_count(self) -> int:
        return self.events.subscriber_count

    @property
    def expected_logout(self) -> str | None:
        """Why the LOGOUT that is coming is expected; None: a LOGOUT would be forced."""
        return self._expected_logout

    @property
    def moving(self) -> bool:
        """A move to the other side is under way."""
        return self._failover.moving

    @property
    def _user_uri(self) -> str:
        return f"/finesse/api/User/{self.agent_id}"

    def use_credentials(self, credentials: Credentials) -> None:
        """Replace the credential (the password or token given at a new sign-in)."""
        self._credentials = credentials

    def refresh_token(self, credentials: BearerCredentials) -> None:
        """A request carried a bearer token: keep it if it lives at least as long as the one held, so the
        next reconnect uses the freshest token and a late request with an older one changes nothing."""
        held = self._credentials
        if not isinstance(held, BearerCredentials) or credentials.outlives(held):
            self._credentials = credentials

    def expect_logout(self, why: str) -> None:
        """The LOGOUT that is coming is expected: the session ends with ``why`` as its reason."""
        self._expected_logout = why

    def attach(self, sink: EventSink, since: int | None) -> None:
        """A subscriber (event socket) arrived: the grace, if running, stops; it resumes from ``since``."""
        if self.ended:
            raise NotFound("no_session", "the agent is not signed in through fingress")
        self._grace.subscriber_returned()
        self.events.subscribe(sink, since)

    def detach(self, sink: EventSink) -> None:
        """A subscriber left; the last one leaving starts the grace timer."""
        self.events.unsubscribe(sink)
        if self.events.subscriber_count == 0:
            self._grace.start()

    async def close(self, reason: str = "connector_stopped") -> None:
        """End the session without touching the agent's state in Finesse (shutdown, failed sign-in)."""
        self._end(reason, publish=False)
        await self._stop_tasks()

    # --- sign-in and reads ---------------------------------------------------------------------------------

    async def sign_in(self, command: SignIn, credentials: Credentials | None = None) -> Reply:
        """Sign the agent in (again); 409 ``device_selection_required`` lists the devices to choose from.

        New ``credentials`` replace the session's only once Finesse has accepted them, so a mistyped
        password at a repeated sign-in cannot break (or lock) the running session.

        An agent Finesse already has signed in (the connector restarted under it, or the app signs in
        again) may be on calls no notification will tell this session about: once the notification link
        is up, the User and Dialogs are read again into the mirror. When that User shows the agent
        signed in exactly as ``command`` asks (:func:`~connector.sessions.reattach.signed_in_as`), the
        sign-in would change nothing in Finesse and is not sent: the session reattaches and answers the
        agent as read. A signed-out agent is signed in as before, without the extra reads."""
        first = await self._read_user_choosing_side(credentials or self._credentials)
        if credentials is not None:
            self._credentials = credentials
        await self._links.ensure_up()
        if first.state is not AgentState.LOGOUT:
            reattached = await self._reattach(command)
            if reattached is not None:
                return reattached
        reply = await self._put_sign_in(command)
        self._signed_in_with(command)
        return reply

    async def _reattach(self, command: SignIn) -> Reply | None:
        """Read the agent again (the link is up); the reply when the sign-in would change nothing."""
        # With the link up nothing after this read can be missed, and what changed since the first read
        # is in it.
        user = await self._resync()
        # A LOGOUT under way (sign-out, grace policy) must meet this sign-in in Finesse, in order.
        if self._expected_logout is not None or not signed_in_as(user, command):
            return None
        self._signed_in_with(command)
        self._ctx.metrics.actions.labels(operation="sign_in", outcome="reattached").inc()
        _log.info(
            "sign_in_reattached",
            agent_id=self.agent_id,
            side=self.side,
            state=user.state.value,
            dialogs=len(self.mirror.dialogs),
        )
        return Reply(200, self._render_agent())

    async def _put_sign_in(self, command: SignIn) -> Reply:
        try:
            return await self._send_sign_in("sign_in", command)
        except Conflict as error:
            if error.code != "invalid_device":
                raise
            devices = await self.rest.get_devices(self._credentials, extension=command.extension)
            raise Conflict(
                "device_selection_required",
                "this extension has several devices: sign in again with one of them as device_id",
                devices=[device_view(device) for device in devices],
            ) from error

    def _signed_in_with(self, command: SignIn) -> None:
        """Finesse has the agent signed in as ``command`` asked (confirmed, pending, or found so)."""
        self._sign_in = command
        self._expected_logout = None
        self.set_status("active")
        self._forget_lists()
        if self.events.subscriber_count == 0:
            self._grace.start()

    async def sign_in_again(self) -> None:
        """Sign in again with the last accepted sign-in (after a move, or a stale forced logout)."""
        if self._sign_in is None:
            return
        await self._send_sign_in("sign_in_again", self._sign_in)

    async def _send_sign_in(self, operation: str, command: SignIn) -> Reply:
        return await self.act(
            operation,
            source=self._user_uri,
            accepts=lambda update: signed_in_on(update, command.extension),
            send=lambda request_id: self.rest.sign_in(self._credentials, command, request_id=request_id),
            render=self._render_agent,
        )

    async def _read_user_choosing_side(self, credentials: Credentials) -> User:
        """Read the User (this checks the credential once, before any XMPP attempt could count against the
        account lock), moving to the other side when this one is out of service or unreachable."""
        try:
            user = await self.rest.get_user(credentials)
        except (SideOutOfService, SideUnreachable):
            other = self._ctx.sides.other(self.side)
            if not self._ctx.has_side(other) or self._links.task is not None:
                raise
            self.side = self._ctx.sides.active = other
            user = await self.rest.get_user(credentials)
        for draft in self.mirror.reconcile(user, self.mirror.dialogs.values()):
            self.publish(draft)
        return user

    async def agent(self) -> Reply:
        return Reply(200, self._render_agent())

    async def reason_codes(self, category: ReasonCodeCategory) -> Reply:
        codes = self._reason_codes.get(category)
        if codes is None:
            codes = await self.rest.get_reason_codes(self._credentials, category)
            self._reason_codes[category] = codes
        return Reply(200, {"reason_codes": [reason_code_view(code) for code in codes]})

    async def wrap_up_reasons(self) -> Reply:
        if self._wrap_up_reasons is None:
            self._wrap_up_reasons = await self.rest.get_wrap_up_reasons(self._credentials)
        return Reply(200, {"wrap_up_reasons": [wrap_up_reason_view(r) for r in self._wrap_up_reasons]})

    def dialogs(self) -> Reply:
        snapshot = self.mirror.snapshot()
        return Reply(200, {"dialogs": snapshot["dialogs"]})

    def _forget_lists(self) -> None:
        """Reason codes and wrap-up reasons are read on demand and kept for the session; a sign-in
        forgets them so the next read sees Finesse's current lists.

        They are not fetched eagerly at sign-in: that cost three Finesse GETs per agent (about a third of
        the connector's CPU in a sign-in storm) for lists most sessions never ask for. They stay per
        agent, not shared per side, because Finesse answers them per agent: ``forAll=false`` codes belong
        to the agent's team, and the User read at sign-in does not name every team whose codes apply."""
        self._reason_codes = {}
        self._wrap_up_reasons = None

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
                accepts=lambda update: user_heading_to(update, wanted),
                send=lambda request_id: self.rest.change_state(
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
            accepts=lambda update: any(d.id not in known for d in dialogs_in(update)),
            send=lambda request_id: self.rest.make_call(self._credentials, command, request_id=request_id),
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
            accepts=lambda update: concerns_dialog(update, dialog_id),
            send=lambda request_id: self.rest.dialog_action(
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
                self.request_move("rest_unavailable")
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

    def _render_agent(self, _update: Update | None = None) -> JsonObject:
        view = self.mirror.agent_json()
        if view is None:  # only before Finesse has answered the sign-in's first read of the User
            raise Unavailable("agent_unknown", "Finesse has not reported this agent yet; try again")
        return view

    def _render_dialog(self, update: Update, dialog_id: DialogId | None) -> JsonObject:
        dialogs = dialogs_in(update)
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
            update = parse_update(text, memo=self._participant_memo)
        except FinesseProtocolError as error:
            _log.warning("notification_unreadable", agent_id=self.agent_id, node=node, reason=error.reason)
            return
        self.apply(update)

    def presence(self, jid: str, available: bool) -> None:
        # The ``finesse`` user going unavailable means the Finesse webapp on this side is down.
        if not available and jid.split("/", 1)[0].split("@", 1)[0].lower() == "finesse":
            self.request_move("finesse_unavailable")

    def apply(self, update: Update) -> None:
        """Take one notification into account (in arrival order)."""
        if self.ended:
            return
        self._notifications_applied += 1
        if isinstance(update.data, SystemInfo):
            if not update.data.in_service:
                self.request_move("out_of_service")
            return
        before = self.mirror.user
        settled = self._pending.offer(update)
        for draft in self.mirror.apply(update):
            if draft.type == "request.failed" and settled is not None and draft.data["request_id"] is None:
                draft.data["request_id"] = settled.request_id
            if draft.type == "dialog.ended":
                self._recently_ended.append(DialogId(str(draft.data["id"])))
            self.publish(draft)
        if isinstance(update.data, User):
            self._user_changed(before, update.data)
        self._grace.call_may_have_ended()

    def publish(self, draft: Draft) -> None:
        """Publish one event to the agent's stream."""
        self.events.publish(draft.type, draft.data)

    def _user_changed(self, before: User | None, user: User) -> None:
        if self._failover.absorbs_user_change(before, user):
            return
        if user.state is AgentState.LOGOUT and self._sign_in is not None:
            self.end(ended_reason(user, self._expected_logout))

    # --- the notification link and failover (LinkHost) ---------------------------------------------------

    def request_move(self, reason: str) -> bool:
        """Move the session to the other side; false if it cannot (see :class:`SideFailover`)."""
        return self._failover.request_move(reason)

    def drop_link(self) -> None:
        self._links.drop_link()

    async def link_established(self, *, reconnected: bool) -> None:
        """A link is up: finish a move to this side, or re-read the agent after a reconnect."""
        moved_from = self._failover.take_move()
        if moved_from is not None:
            await self._failover.complete_move(moved_from)
        elif reconnected:
            await self._resync()

    async def _resync(self) -> User:
        """Re-read the User and dialogs into the mirror, publishing what changed (notifications may have
        been missed while the link was down, or before it first came up); the User read.

        REST and XMPP are separate paths: a notification applied while the reads were in flight may be
        newer than what they return, and reconciling the older read over it would put the mirror (and
        the app) back in a state Finesse has left. So the reads are repeated, up to
        :data:`RESYNC_READS` times, until none arrived meanwhile; a read started after a notification
        arrived is at least as new as it (Finesse publishes a change once it has made it)."""
        for _ in range(RESYNC_READS):
            applied = self._notifications_applied
            user, dialogs = await asyncio.gather(
                self.rest.get_user(self._credentials), self.rest.get_dialogs(self._credentials)
            )
            if self._notifications_applied == applied:
                break
        else:
            _log.info("resync_overtaken", agent_id=self.agent_id, reads=RESYNC_READS)
        before = self.mirror.user
        for draft in self.mirror.reconcile(user, dialogs):
            self.publish(draft)
        self._user_changed(before, user)
        return user

    # --- ending -------------------------------------------------------------------------------------------

    def end(self, reason: str) -> None:
        """End the session, publishing ``session.ended`` with ``reason`` (no-op once ended)."""
        self._end(reason)

    def _end(self, reason: str, *, publish: bool = True) -> None:
        if self.ended:
            return
        self.ended_reason = reason
        _log.info("session_ended", agent_id=self.agent_id, reason=reason)
        if publish:
            self.events.publish("session.ended", {"reason": reason})
        self._grace.cancel()
        self._pending.fail_all(Unavailable("session_ended", f"the session ended ({reason})"))
        self.events.close()
        self.set_status(None)
        self._links.cancel()
        self._on_ended(self)

    async def _stop_tasks(self) -> None:
        tasks = [task for task in (self._links.task, *self._background) if task is not None]
        for task in tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for task in tasks:
            if task is not asyncio.current_task():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._links.close_link()

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` as a background task of the session (cancelled when the session closes)."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def set_status(self, status: str | None) -> None:
        """The session's state for the sessions-by-state metric (None: the session is gone)."""
        if status == self.status:
            return
        self._ctx.metrics.session_moved(self.status, status)
        self.status = status
