"""The CTI server both Finesse sides share: the agent state machine and the calls.

Every public method is one asynchronous outcome of a request (or an unsolicited event such as a call
offer or a timer): it applies Finesse's rules, and publishes what changed, echoing ``request_id``. Refusals
that Finesse reports asynchronously are published as ``apiErrors``; synchronous validation happens before,
in :mod:`.cluster`. No I/O and no clock: time comes from the injected scheduler.

Agent states while on a call are derived from the agent's participants (ALERTING → RESERVED, ACTIVE →
TALKING, all HELD → HOLD). When an agent's last call ends, the pending state (or the state the agent had
before the call) applies, through wrap-up (WORK / WORK_READY) when the agent's wrap-up setting asks for it.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from . import config
from .directory import Directory
from .errors import (
    DEVICE_BUSY,
    INVALID_DEVICE,
    INVALID_STATE,
    MODE_NOT_ALLOWED,
    WRAP_UP_DATA_REQUIRED,
    AsyncError,
    call_operation_failure,
)
from .hub import Side
from .model import Agent, AgentState, CallType, Dialog, MobileAgent, Participant, ParticipantState
from .notifier import Notifier
from .timers import Scheduler, spread_evenly

CALL_STATES: frozenset[str] = frozenset({"RESERVED", "TALKING", "HOLD"})
WRAP_UP_STATES: frozenset[str] = frozenset({"WORK", "WORK_READY"})
DIALOG_ACTIONS: frozenset[str] = frozenset(
    {
        "ANSWER",
        "HOLD",
        "RETRIEVE",
        "DROP",
        "CONSULT_CALL",
        "TRANSFER",
        "CONFERENCE",
        "TRANSFER_SST",
        "SEND_DTMF",
        "UPDATE_CALL_DATA",
    }
)
FIRST_DIALOG_ID = 16777217


class NoAgentAvailable(Exception):
    """An offered call found no READY agent (or the named agent is not READY)."""


@dataclass(frozen=True)
class ForcedChange:
    """A record of a system-forced state change (presence loss, supervisor, nailed connection)."""

    agent_id: str
    side: Side | None
    state: AgentState
    reason_code: int
    at_s: float


@dataclass(frozen=True)
class CallData:
    """What UPDATE_CALL_DATA may change."""

    call_variables: Mapping[str, str]
    wrap_up_reason: str | None


class Cti:
    def __init__(
        self, *, directory: Directory, scheduler: Scheduler, notifier: Notifier, timing: config.Timing
    ) -> None:
        self._directory = directory
        self._scheduler = scheduler
        self._notifier = notifier
        self.timing = timing
        self._behaviour = directory.config.behaviour
        self._system = directory.config.system
        now = scheduler.utc_now()
        self.agents: dict[str, Agent] = {
            profile.id: Agent(
                profile=profile,
                wrap_up_timer_s=profile.wrap_up_timer_s or timing.default_wrap_up_timer_s,
                state="LOGOUT",
                state_change_time=now,
            )
            for profile in directory.config.agents
        }
        self.dialogs: dict[str, Dialog] = {}
        # The signed-in agents by extension (at most one each: a second sign-in is refused DEVICE_BUSY).
        # Calls and sign-ins look an extension up; a scan of every agent was O(agents) each time. Kept
        # exact by the only two writers of what it depends on: _set_state (signed in or not) and
        # _set_extension.
        self._on_extension: dict[str, Agent] = {}
        self.forced_changes: list[ForcedChange] = []
        self._dialog_ids = itertools.count(FIRST_DIALOG_ID)
        # Which agents have been told about a dialog (POSTed and not yet DELETEd).
        self._audience: dict[str, set[str]] = {}
        self._changed_users: dict[str, None] = {}
        # The agent a request was made for: only its notifications echo the requestId (a colleague who
        # sees the same dialog change gets an empty one, like any unsolicited event).
        self._requested_for: str | None = None

    def cancel_timers(self) -> None:
        """Stop every wrap-up, nailed-connection and ring timer (the state is being thrown away)."""
        timers = [agent.wrap_up_timer for agent in self.agents.values()]
        timers += [agent.nailed_timer for agent in self.agents.values()]
        timers += [dialog.ring_timer for dialog in self.dialogs.values()]
        timers += [dialog.progress_timer for dialog in self.dialogs.values()]
        for timer in timers:
            if timer is not None:
                timer.cancel()

    # ----------------------------------------------------------------------------------------- queries

    def dialogs_of(self, agent_id: str) -> list[Dialog]:
        return [dialog for dialog in self.dialogs.values() if agent_id in self._audience.get(dialog.id, ())]

    def agent_on_extension(self, extension: str) -> Agent | None:
        """The signed-in agent on ``extension``, if any."""
        return self._on_extension.get(extension)

    def actions_of(self, dialog: Dialog, participant: Participant) -> list[str]:
        """The actions Finesse offers ``participant`` in its current state (none for external parties)."""
        if participant.agent_id is None:
            return []
        if participant.state == "ALERTING":
            return ["ANSWER"]
        if participant.state in ("INITIATING", "INITIATED"):
            return ["DROP"]
        if participant.state == "WRAP_UP":
            return ["UPDATE_CALL_DATA"]
        if participant.state == "ACTIVE":
            if dialog.consult_of or dialog.nailed_setup_for:
                return ["DROP", "UPDATE_CALL_DATA", "SEND_DTMF"]
            return ["HOLD", "DROP", "UPDATE_CALL_DATA", "CONSULT_CALL", "TRANSFER_SST", "SEND_DTMF"]
        if participant.state == "HELD":
            actions = ["RETRIEVE", "DROP", "UPDATE_CALL_DATA"]
            if self._answered_consult(dialog, participant.agent_id) is not None:
                actions += ["TRANSFER", "CONFERENCE"]
            return actions
        return []

    def _answered_consult(self, held: Dialog, agent_id: str) -> tuple[Dialog, Participant] | None:
        """The agent's consult call on ``held`` whose other party has answered, with that party."""
        for dialog in self.dialogs.values():
            if dialog.consult_of != held.id:
                continue
            own = dialog.participant_of(agent_id)
            if own is None or own.state != "ACTIVE":
                continue
            for other in dialog.participants:
                if other is not own and other.state == "ACTIVE":
                    return dialog, other
        return None

    # ------------------------------------------------------------------------------------ agent states

    def sign_in(
        self,
        agent_id: str,
        *,
        extension: str,
        device_id: str,
        mobile: MobileAgent | None,
        side: Side,
        request_id: str,
    ) -> None:
        self._requested_for = agent_id
        agent = self.agents[agent_id]
        error = self._sign_in_refusal(agent, extension, device_id, mobile)
        if error is not None:
            self._notifier.async_error(agent_id, error, request_id)
            return
        if agent.signed_in:
            # Signing in again keeps the state; it is how a mobile agent re-registers after a node switch.
            agent.mobile_agent = mobile
            agent.device_id = device_id or agent.device_id
            agent.signed_in_side = side
            self._changed(agent)
            nailed = mobile is not None and mobile.mode == "NAILED_CONNECTION"
            setup_pending = any(d.nailed_setup_for == agent.id for d in self.dialogs.values())
            if nailed and not agent.nailed_connected and not setup_pending:
                self._place_nailed_setup_call(agent, request_id)
        else:
            self._set_extension(agent, extension)
            agent.device_id = device_id
            agent.mobile_agent = mobile
            agent.signed_in_side = side
            agent.nailed_connected = False
            self._set_state(agent, "NOT_READY", None)
            if mobile is not None and mobile.mode == "NAILED_CONNECTION":
                self._place_nailed_setup_call(agent, request_id)
        self._flush(request_id)

    def _sign_in_refusal(
        self, agent: Agent, extension: str, device_id: str, mobile: MobileAgent | None
    ) -> AsyncError | None:
        mobile_possible = agent.profile.mobile_agent_enabled and self._system.deployment_type == "UCCE"
        if mobile is not None and not mobile_possible:  # mobile agent is a CCE feature
            return MODE_NOT_ALLOWED
        if agent.signed_in and agent.extension != extension:
            return INVALID_STATE
        devices = [device.device_id for device in self._directory.devices(extension)]
        if device_id and device_id not in devices:
            return INVALID_DEVICE
        if len(devices) > 1 and not (device_id or (agent.signed_in and agent.device_id)):
            return INVALID_DEVICE
        holder = self.agent_on_extension(extension)
        if holder is not None and holder is not agent:
            return DEVICE_BUSY
        return None

    def set_ready(self, agent_id: str, request_id: str) -> None:
        self._requested_for = agent_id
        agent = self.agents[agent_id]
        waiting_for_nailed = agent.mobile_agent is not None and agent.mobile_agent.mode == "NAILED_CONNECTION"
        if not agent.signed_in or (waiting_for_nailed and not agent.nailed_connected):
            self._notifier.async_error(agent_id, INVALID_STATE, request_id)
            return
        if self._wrap_up_reason_missing(agent):
            self._notifier.async_error(agent_id, WRAP_UP_DATA_REQUIRED, request_id)
            return
        if agent.state in CALL_STATES:
            agent.pending_state, agent.pending_reason = "READY", None
            self._changed(agent)
        else:
            self._end_wrap_up(agent, request_id)
            self._set_state(agent, "READY", None)
        self._flush(request_id)

    def set_not_ready(self, agent_id: str, reason: config.ReasonCode | None, request_id: str) -> None:
        self._requested_for = agent_id
        agent = self.agents[agent_id]
        if not agent.signed_in:
            self._notifier.async_error(agent_id, INVALID_STATE, request_id)
            return
        if self._wrap_up_reason_missing(agent):
            self._notifier.async_error(agent_id, WRAP_UP_DATA_REQUIRED, request_id)
            return
        self._not_ready(agent, reason, request_id)
        self._flush(request_id)

    def _wrap_up_reason_missing(self, agent: Agent) -> bool:
        """Whether a request to leave the agent's wrap-up must be refused: its setting is
        REQUIRED_WITH_WRAP_UP_DATA and no wrap-up reason was set on the dialog (UPDATE_CALL_DATA).
        Only requests are refused; the wrap-up timer and system-forced changes still move the agent on."""
        if agent.state not in WRAP_UP_STATES or not agent.wrap_up_needs_reason:
            return False
        dialog = self.dialogs.get(agent.wrap_up_dialog_id)
        return dialog is None or not dialog.wrap_up_reason

    def _not_ready(self, agent: Agent, reason: config.ReasonCode | None, request_id: str) -> None:
        if agent.state in CALL_STATES:
            agent.pending_state, agent.pending_reason = "NOT_READY", reason
            self._changed(agent)
        else:
            self._end_wrap_up(agent, request_id)
            self._set_state(agent, "NOT_READY", reason)

    def logout(self, agent_id: str, reason: config.ReasonCode | None, request_id: str) -> None:
        self._requested_for = agent_id
        agent = self.agents[agent_id]
        allowed = agent.signed_in and agent.state not in CALL_STATES
        if self._behaviour.logout_only_from_not_ready and agent.state != "NOT_READY":
            allowed = False
        if not allowed:
            self._notifier.async_error(agent_id, INVALID_STATE, request_id)
            return
        self._sign_out(agent, reason, request_id)
        self._flush(request_id)

    def _sign_out(self, agent: Agent, reason: config.ReasonCode | None, request_id: str) -> None:
        self._end_wrap_up(agent, request_id)
        for dialog in list(self.dialogs.values()):
            if dialog.nailed_setup_for == agent.id:
                self._remove_participant(dialog, agent.id)
                self._settle(dialog, request_id)
        if agent.nailed_timer is not None:
            agent.nailed_timer.cancel()
            agent.nailed_timer = None
        self._set_extension(agent, "")
        agent.device_id = ""
        agent.mobile_agent = None
        agent.nailed_connected = False
        agent.pending_state, agent.pending_reason = "", None
        agent.after_call_reason = None
        agent.signed_in_side = None
        self._set_state(agent, "LOGOUT", reason)

    def force(
        self,
        agent_id: str,
        *,
        target: Literal["NOT_READY", "LOGOUT"],
        reason: config.ReasonCode,
        side: Side | None,
        request_id: str = "",
    ) -> None:
        """A system-forced change: NOT_READY waits for calls to end (pending state); LOGOUT drops them."""
        agent = self.agents[agent_id]
        if not agent.signed_in:
            return
        self.forced_changes.append(
            ForcedChange(agent_id, side, target, reason.code, self._scheduler.monotonic_s())
        )
        if target == "NOT_READY":
            self._not_ready(agent, reason, request_id)
        else:
            for dialog in list(self.dialogs.values()):
                participant = dialog.participant_of(agent_id)
                if participant is not None and participant.connected:
                    participant.state = "DROPPED"
                    self._settle(dialog, request_id, wrap_up=False)
            self._sign_out(agent, reason, request_id)
        self._flush(request_id)

    # ------------------------------------------------------------------------------- state bookkeeping

    def _echo(self, agent_id: str, request_id: str) -> str:
        return request_id if agent_id == self._requested_for else ""

    def _changed(self, agent: Agent) -> None:
        self._changed_users[agent.id] = None

    def _set_state(self, agent: Agent, state: AgentState, reason: config.ReasonCode | None) -> None:
        if state == "READY" and agent.state != "READY":
            agent.ready_since_s = self._scheduler.monotonic_s()
        if state != agent.state:
            agent.state_change_time = self._scheduler.utc_now()
        agent.state = state
        agent.reason = reason
        self._index(agent, agent.extension)
        self._changed(agent)

    def _set_extension(self, agent: Agent, extension: str) -> None:
        previous, agent.extension = agent.extension, extension
        self._index(agent, previous)

    def _index(self, agent: Agent, previous_extension: str) -> None:
        """Bring :attr:`_on_extension` up to date after ``agent``'s state or extension changed."""
        if self._on_extension.get(previous_extension) is agent:
            del self._on_extension[previous_extension]
        if agent.signed_in:
            self._on_extension[agent.extension] = agent

    def _flush(self, request_id: str) -> None:
        changed, self._changed_users = self._changed_users, {}
        for agent_id in changed:
            self._notifier.user_changed(self.agents[agent_id], self._echo(agent_id, request_id))

    def _end_wrap_up(self, agent: Agent, request_id: str) -> None:
        if agent.wrap_up_timer is not None:
            agent.wrap_up_timer.cancel()
            agent.wrap_up_timer = None
        dialog = self.dialogs.get(agent.wrap_up_dialog_id)
        agent.wrap_up_dialog_id = ""
        agent.wrap_up_needs_reason = False
        if dialog is not None:
            self._remove_participant(dialog, agent.id)
            self._settle(dialog, request_id)

    def _wrap_up_expired(self, agent_id: str) -> None:
        agent = self.agents[agent_id]
        agent.wrap_up_timer = None
        if agent.state not in WRAP_UP_STATES:
            return
        target: AgentState = "READY" if agent.state == "WORK_READY" else "NOT_READY"
        reason = agent.after_call_reason if target == "NOT_READY" else None
        agent.after_call_reason = None
        self._end_wrap_up(agent, "")
        self._set_state(agent, target, reason)
        self._flush("")

    def _refresh_call_state(self, agent: Agent, request_id: str) -> None:
        """Derive RESERVED / TALKING / HOLD from the agent's connected participants."""
        states = {
            participant.state
            for dialog in self.dialogs.values()
            if not dialog.nailed_setup_for
            for participant in dialog.participants
            if participant.agent_id == agent.id and participant.connected
        }
        if not states:
            return
        # Dialing out (INITIATING / INITIATED) already counts as talking, as the phone is off hook.
        talking = bool(states & {"ACTIVE", "INITIATING", "INITIATED"})
        derived: AgentState = "TALKING" if talking else "HOLD" if "HELD" in states else "RESERVED"
        if agent.state not in CALL_STATES:
            # Entering a call: remember where to return, and end any wrap-up in progress.
            agent.after_call_state = "READY" if agent.state in ("READY", "WORK_READY") else "NOT_READY"
            if agent.state == "NOT_READY":
                agent.after_call_reason = agent.reason
            elif agent.state != "WORK":  # in WORK it already holds the reason wrap-up would end with
                agent.after_call_reason = None
            self._end_wrap_up(agent, request_id)
        if derived != agent.state:
            self._set_state(agent, derived, None)

    def _after_call(self, agent: Agent, dialog: Dialog, participant: Participant, wrap_up: bool) -> None:
        """The agent's last call ended: apply the pending state, through wrap-up where configured."""
        target = agent.pending_state or agent.after_call_state
        if agent.pending_state:
            reason = agent.pending_reason if target == "NOT_READY" else None
        else:
            reason = agent.after_call_reason if target == "NOT_READY" else None
        agent.pending_state, agent.pending_reason = "", None
        profile = agent.profile
        mode = profile.wrap_up_on_incoming if dialog.incoming else profile.wrap_up_on_outgoing
        if wrap_up and participant.answered and mode != "NOT_ALLOWED" and not dialog.nailed_setup_for:
            participant.state = "WRAP_UP"
            agent.wrap_up_dialog_id = dialog.id
            agent.wrap_up_needs_reason = mode == "REQUIRED_WITH_WRAP_UP_DATA"
            agent.after_call_reason = reason
            agent.wrap_up_timer = self._scheduler.call_later(
                agent.wrap_up_timer_s, lambda: self._wrap_up_expired(agent.id)
            )
            self._set_state(agent, "WORK" if target == "NOT_READY" else "WORK_READY", None)
        else:
            agent.after_call_reason = None
            self._set_state(agent, target, reason)

    # ----------------------------------------------------------------------------------------- dialogs

    def _new_dialog(
        self,
        *,
        from_address: str,
        to_address: str,
        call_type: CallType,
        incoming: bool,
        consult_of: str = "",
        dialed_number: str = "",
        nailed_setup_for: str = "",
    ) -> Dialog:
        dialog = Dialog(
            id=str(next(self._dialog_ids)),
            from_address=from_address,
            to_address=to_address,
            call_type=call_type,
            incoming=incoming,
            consult_of=consult_of,
            dialed_number=dialed_number,
            nailed_setup_for=nailed_setup_for,
        )
        self.dialogs[dialog.id] = dialog
        self._audience[dialog.id] = set()
        return dialog

    def _participant(self, address: str, agent: Agent | None, state: ParticipantState) -> Participant:
        now = self._scheduler.utc_now()
        return Participant(
            media_address=address,
            media_address_type="AGENT_DEVICE" if agent is not None else "EXTERNAL",
            state=state,
            start_time=now,
            state_change_time=now,
            agent_id=agent.id if agent is not None else None,
            answered=state == "ACTIVE",
        )

    def _set_participant_state(self, participant: Participant, state: ParticipantState) -> None:
        participant.state = state
        participant.answered = participant.answered or state == "ACTIVE"
        participant.state_change_time = self._scheduler.utc_now()

    def _remove_participant(self, dialog: Dialog, agent_id: str) -> None:
        dialog.participants = [p for p in dialog.participants if p.agent_id != agent_id]

    def _callee_refusal(self, address: str, caller: Agent | None) -> AsyncError | None:
        """Why ``address`` cannot be called now (calling oneself, a busy agent), or None."""
        callee = self.agent_on_extension(address)
        if callee is None:
            return None
        if callee is caller:
            return call_operation_failure("CALLING_SELF")
        if callee.state in CALL_STATES or self._on_call(callee.id):
            return DEVICE_BUSY
        return None

    def _callee(
        self, dialog: Dialog, address: str, caller: Agent | None, *, outside_rings: bool = False
    ) -> Participant | AsyncError:
        """The called party: a signed-in agent's extension rings (ALERTING); anything else is an outside
        number, which rings too for MAKE_CALL (``outside_rings``) and answers at once for consult and
        single-step transfer calls (an emulator simplification)."""
        refusal = self._callee_refusal(address, caller)
        if refusal is not None:
            return refusal
        callee = self.agent_on_extension(address)
        if callee is None:
            return self._participant(address, None, "ALERTING" if outside_rings else "ACTIVE")
        participant = self._participant(address, callee, "ALERTING")
        self._start_ring_timer(dialog, callee.id)
        return participant

    def _start_ring_timer(self, dialog: Dialog, agent_id: str) -> None:
        if dialog.ring_timer is not None:
            dialog.ring_timer.cancel()
        dialog.ring_timer = self._scheduler.call_later(
            self.timing.ring_timeout_s, lambda: self._ring_timeout(dialog.id, agent_id)
        )

    def _ring_timeout(self, dialog_id: str, agent_id: str) -> None:
        dialog = self.dialogs.get(dialog_id)
        if dialog is None:
            return
        dialog.ring_timer = None
        participant = dialog.participant_of(agent_id)
        if participant is None or participant.state != "ALERTING":
            return
        agent = self.agents[agent_id]
        if dialog.call_type == "ACD_IN":
            # Redirection on no answer: the agent is made NOT_READY so the next call goes elsewhere.
            agent.pending_state = "NOT_READY"
            agent.pending_reason = self._directory.system_code("NOT_READY", 32767)
        participant.state_cause = "NO_ANSWER"
        self._set_participant_state(participant, "DROPPED")
        self._settle(dialog, "")
        self._flush("")

    def _settle(self, dialog: Dialog, request_id: str, *, wrap_up: bool = True) -> None:
        """After a change to ``dialog``: end it when fewer than two parties remain, let agents whose last
        call ended move on, publish POST / PUT / DELETE to every agent concerned, and forget it when done."""
        # While dialing the calling agent is the only party; the far end joins when it rings.
        dialing = bool(dialog.dialing) and bool(dialog.connected())
        if not dialing and len(dialog.connected()) < 2:
            for participant in dialog.connected():
                self._set_participant_state(participant, "DROPPED")
        if not any(p.state == "ALERTING" for p in dialog.participants) and dialog.ring_timer is not None:
            dialog.ring_timer.cancel()
            dialog.ring_timer = None
        ended = not dialog.connected()
        if ended and dialog.progress_timer is not None:
            dialog.progress_timer.cancel()
            dialog.progress_timer = None
        if ended:
            dialog.state = "DROPPED"
        elif dialog.dialing == "INITIATING":
            dialog.state = "INITIATING"
        elif dialog.dialing == "INITIATED":
            dialog.state = "INITIATED"
        elif (
            any(p.state == "ALERTING" for p in dialog.participants)
            and sum(p.state in ("ACTIVE", "HELD") for p in dialog.participants) < 2
        ):
            dialog.state = "ALERTING"
        else:
            dialog.state = "ACTIVE"
        for participant in dialog.participants:
            if participant.agent_id is None or participant.state != "DROPPED":
                continue
            agent = self.agents[participant.agent_id]
            still_on_call = any(
                p.agent_id == agent.id and p.connected
                for other in self.dialogs.values()
                if other is not dialog and not other.nailed_setup_for
                for p in other.participants
            )
            if agent.state in CALL_STATES and not still_on_call and not dialog.nailed_setup_for:
                self._after_call(agent, dialog, participant, wrap_up)
        audience = self._audience.setdefault(dialog.id, set())
        present = {p.agent_id for p in dialog.participants if p.agent_id is not None and p.state != "DROPPED"}
        for agent_id in sorted(audience - present):
            self._notifier.dialog_event(agent_id, dialog, "DELETE", self._echo(agent_id, request_id))
            audience.discard(agent_id)
        for agent_id in sorted(present):
            event = "PUT" if agent_id in audience else "POST"
            self._notifier.dialog_event(agent_id, dialog, event, self._echo(agent_id, request_id))
            audience.add(agent_id)
        dialog.participants = [p for p in dialog.participants if p.state != "DROPPED"]
        for agent_id in present:
            self._refresh_call_state(self.agents[agent_id], request_id)
        if not audience:
            self.dialogs.pop(dialog.id, None)
            self._audience.pop(dialog.id, None)
        held = self.dialogs.get(dialog.consult_of)
        if held is not None:
            # The held call's TRANSFER / CONFERENCE actions depend on the consult call's progress.
            self._publish_unchanged(held, request_id)

    # ------------------------------------------------------------------------------------- call events

    def offer_call(
        self, *, agent_id: str | None, from_address: str, call_variables: Mapping[str, str]
    ) -> Dialog:
        """Route a customer call to ``agent_id`` (must be READY) or to the agent READY the longest."""
        busy = self._agents_on_call()
        if agent_id is not None:
            agent = self.agents[agent_id]
            if agent.state != "READY" or agent.id in busy:
                raise NoAgentAvailable(f"agent {agent_id} is not READY")
        else:
            candidates = [a for a in self.agents.values() if a.state == "READY" and a.id not in busy]
            if not candidates:
                raise NoAgentAvailable("no agent is READY")
            agent = min(candidates, key=lambda a: a.ready_since_s)
        dialog = self._new_dialog(
            from_address=from_address,
            to_address=agent.extension,
            call_type="ACD_IN",
            incoming=True,
            dialed_number=self._system.dnis,
        )
        dialog.dnis = self._system.dnis
        dialog.queue_name = self._system.queue_name
        dialog.call_variables.update(call_variables)
        dialog.participants.append(self._participant(from_address, None, "ACTIVE"))
        dialog.participants.append(self._participant(agent.extension, agent, "ALERTING"))
        self._start_ring_timer(dialog, agent.id)
        self._settle(dialog, "")
        self._flush("")
        return dialog

    def _agents_on_call(self) -> set[str]:
        return {
            participant.agent_id
            for dialog in self.dialogs.values()
            for participant in dialog.participants
            if participant.agent_id is not None and participant.connected
        }

    def _on_call(self, agent_id: str) -> bool:
        """Whether the agent is a connected party of any dialog (the nailed setup call included)."""
        return any(
            p.agent_id == agent_id and p.connected for d in self.dialogs.values() for p in d.participants
        )

    def make_call(self, agent_id: str, *, to_address: str, request_id: str) -> None:
        self._requested_for = agent_id
        agent = self.agents[agent_id]
        if agent.state not in ("NOT_READY", "WORK", "WORK_READY") or self._on_call(agent_id):
            self._notifier.async_error(agent_id, INVALID_STATE, request_id)
            return
        refusal = self._callee_refusal(to_address, agent)
        if refusal is not None:
            self._notifier.async_error(agent_id, refusal, request_id, dialogs=True)
            return
        dialog = self._new_dialog(
            from_address=agent.extension, to_address=to_address, call_type="OUT", incoming=False
        )
        dialog.dialed_number = to_address
        dialog.dialing = "INITIATING"
        dialog.participants.append(self._participant(agent.extension, agent, "INITIATING"))
        self._settle(dialog, request_id)
        self._flush(request_id)
        self._next_step(dialog, self.timing.make_call_initiated_delay_s, self._make_call_initiated)

    def _next_step(self, dialog: Dialog, delay_s: float, step: Callable[[str], None]) -> None:
        dialog_id = dialog.id
        dialog.progress_timer = self._scheduler.call_later(delay_s, lambda: step(dialog_id))

    def _make_call_initiated(self, dialog_id: str) -> None:
        dialog = self.dialogs.get(dialog_id)
        if dialog is None or dialog.dialing != "INITIATING":
            return
        dialog.progress_timer = None
        dialog.dialing = "INITIATED"
        for participant in dialog.participants:
            if participant.state == "INITIATING":
                self._set_participant_state(participant, "INITIATED")
        self._settle(dialog, "")
        self._flush("")
        self._next_step(dialog, self.timing.make_call_alerting_delay_s, self._make_call_alerting)

    def _make_call_alerting(self, dialog_id: str) -> None:
        """The far end rings; the caller stays INITIATED until it answers. The callee is checked again:
        an agent may have become busy or signed out while the call was being set up."""
        dialog = self.dialogs.get(dialog_id)
        if dialog is None or dialog.dialing != "INITIATED":
            return
        dialog.progress_timer = None
        dialog.dialing = ""
        caller_id = next(iter(dialog.agent_ids()), None)
        caller = self.agents[caller_id] if caller_id is not None else None
        callee = self._callee(dialog, dialog.to_address, caller, outside_rings=True)
        if isinstance(callee, AsyncError):
            if caller is not None:
                self._notifier.async_error(caller.id, callee, "", dialogs=True)
            for participant in dialog.participants:
                self._set_participant_state(participant, "DROPPED")
        else:
            dialog.participants.append(callee)
            if callee.agent_id is None and self._behaviour.outside_party_answers:
                self._next_step(dialog, self.timing.outside_answer_delay_s, self._outside_party_answers)
        self._settle(dialog, "")
        self._flush("")

    def _outside_party_answers(self, dialog_id: str) -> None:
        dialog = self.dialogs.get(dialog_id)
        if dialog is None:
            return
        dialog.progress_timer = None
        self._answer_outside(dialog)

    def _answer_outside(self, dialog: Dialog) -> bool:
        for participant in dialog.participants:
            if participant.agent_id is None and participant.state == "ALERTING":
                if dialog.progress_timer is not None:
                    dialog.progress_timer.cancel()
                    dialog.progress_timer = None
                self._answer(dialog, participant, "")
                self._flush("")
                return True
        return False

    def answer_on_phone(self, dialog_id: str) -> bool:
        """The alerting party picks up (control API): the agent on its phone, else the outside number a
        MAKE_CALL rings. False when nobody is alerting."""
        dialog = self.dialogs.get(dialog_id)
        if dialog is None:
            return False
        for participant in dialog.participants:
            if participant.agent_id is not None and participant.state == "ALERTING":
                self._answer(dialog, participant, "")
                self._flush("")
                return True
        return self._answer_outside(dialog)

    def customer_hangup(self, dialog_id: str) -> bool:
        """The outside party hangs up; False when the dialog has no connected outside party."""
        dialog = self.dialogs.get(dialog_id)
        if dialog is None:
            return False
        for participant in dialog.participants:
            if participant.agent_id is None and participant.connected:
                self._set_participant_state(participant, "DROPPED")
                self._settle(dialog, "")
                self._flush("")
                return True
        return False

    def update_call_data(
        self,
        dialog_ids: Sequence[str],
        call_variables: Mapping[str, str],
        *,
        stamp_variable: str | None,
        spread_s: float = 0.0,
    ) -> list[str]:
        """Call data changed outside the agents' hands (an IVR or a script setting call variables): each
        dialog gets ``call_variables`` and, when ``stamp_variable`` is given, that variable set to this
        process's wall clock in Unix nanoseconds at the moment the dialog's update is published (what a
        benchmark needs to measure delivery latency end to end). With ``spread_s`` the updates are
        published evenly over that many seconds instead of all at once, as independent changes arrive.
        Returns the ids of the dialogs that exist now (unknown ids are skipped, and so is a dialog that
        ends before its turn)."""
        existing = [dialog_id for dialog_id in dialog_ids if dialog_id in self.dialogs]

        def update(dialog_id: str) -> None:
            dialog = self.dialogs.get(dialog_id)
            if dialog is None:
                return
            dialog.call_variables.update(call_variables)
            if stamp_variable is not None:
                dialog.call_variables[stamp_variable] = str(time.time_ns())
            self._publish_unchanged(dialog, "")

        def update_all(dialog_ids: Sequence[str]) -> None:
            for dialog_id in dialog_ids:
                update(dialog_id)

        if spread_s <= 0 or len(existing) < 2:
            update_all(existing)
            return existing
        for delay_s, group in spread_evenly(existing, spread_s, self.timing.call_data_slot_s):
            if delay_s <= 0:
                update_all(group)
            else:
                self._scheduler.call_later(delay_s, functools.partial(update_all, group))
        return existing

    def hang_up_nailed(self, agent_id: str) -> bool:
        """The nailed connection drops: the agent is signed out with reason 50042."""
        agent = self.agents[agent_id]
        if not agent.nailed_connected:
            return False
        self.force(agent_id, target="LOGOUT", reason=self._directory.system_code("LOGOUT", 50042), side=None)
        return True

    def _place_nailed_setup_call(self, agent: Agent, request_id: str) -> None:
        assert agent.mobile_agent is not None
        dialog = self._new_dialog(
            from_address=agent.extension,
            to_address=agent.mobile_agent.dial_number,
            call_type="AGENT_INSIDE",
            incoming=False,
            nailed_setup_for=agent.id,
        )
        dialog.participants.append(self._participant(agent.extension, agent, "ALERTING"))
        dialog.participants.append(self._participant(agent.mobile_agent.dial_number, None, "ACTIVE"))
        agent.nailed_timer = self._scheduler.call_later(
            self.timing.nailed_answer_timeout_s, lambda: self._nailed_unanswered(agent.id)
        )
        self._settle(dialog, request_id)

    def _nailed_unanswered(self, agent_id: str) -> None:
        agent = self.agents[agent_id]
        agent.nailed_timer = None
        if agent.signed_in and not agent.nailed_connected:
            self.force(
                agent_id, target="LOGOUT", reason=self._directory.system_code("LOGOUT", 50040), side=None
            )

    def _answer(self, dialog: Dialog, participant: Participant, request_id: str) -> None:
        if dialog.nailed_setup_for:
            agent = self.agents[dialog.nailed_setup_for]
            agent.nailed_connected = True
            if agent.nailed_timer is not None:
                agent.nailed_timer.cancel()
                agent.nailed_timer = None
            # The nailed connection stays up in the background; it is not a call the agent works.
            self._set_participant_state(participant, "DROPPED")
            self._settle(dialog, request_id)
            return
        self._set_participant_state(participant, "ACTIVE")
        for caller in dialog.participants:
            if caller.state == "INITIATED":  # the caller of a MAKE_CALL is connected once answered
                self._set_participant_state(caller, "ACTIVE")
        self._settle(dialog, request_id)

    # ------------------------------------------------------------------------------------ dialog actions

    def dialog_action(
        self,
        agent_id: str,
        dialog_id: str,
        action: str,
        *,
        to_address: str = "",
        dtmf: str = "",
        call_data: CallData | None = None,
        request_id: str,
    ) -> None:
        self._requested_for = agent_id
        dialog = self.dialogs.get(dialog_id)
        participant = dialog.participant_of(agent_id) if dialog is not None else None
        if dialog is None or participant is None:
            self._notifier.async_error(
                agent_id, call_operation_failure("NO_SUCH_DIALOG"), request_id, dialogs=True
            )
            return
        if action not in self.actions_of(dialog, participant):
            failure = call_operation_failure(f"{action}_NOT_ALLOWED_IN_{participant.state}")
            self._notifier.async_error(agent_id, failure, request_id, dialogs=True)
            return
        error = self._perform(dialog, participant, action, to_address, dtmf, call_data, request_id)
        if error is not None:
            self._notifier.async_error(agent_id, error, request_id, dialogs=True)
        self._flush(request_id)

    def _perform(
        self,
        dialog: Dialog,
        participant: Participant,
        action: str,
        to_address: str,
        dtmf: str,
        call_data: CallData | None,
        request_id: str,
    ) -> AsyncError | None:
        agent = self.agents[str(participant.agent_id)]
        if action == "ANSWER":
            self._answer(dialog, participant, request_id)
        elif action == "HOLD":
            self._set_participant_state(participant, "HELD")
            self._settle(dialog, request_id)
        elif action == "RETRIEVE":
            if any(
                p.agent_id == agent.id and p.state == "ACTIVE"
                for d in self.dialogs.values()
                for p in d.participants
            ):
                return call_operation_failure("ANOTHER_CALL_ACTIVE")
            self._set_participant_state(participant, "ACTIVE")
            self._settle(dialog, request_id)
        elif action == "DROP":
            self._set_participant_state(participant, "DROPPED")
            self._settle(dialog, request_id)
        elif action == "CONSULT_CALL":
            return self._consult(dialog, participant, agent, to_address, request_id)
        elif action in ("TRANSFER", "CONFERENCE"):
            return self._complete_consult(dialog, participant, agent, action, request_id)
        elif action == "TRANSFER_SST":
            return self._single_step_transfer(dialog, participant, agent, to_address, request_id)
        elif action == "SEND_DTMF":
            dialog.dtmf_digits += dtmf
            self._settle(dialog, request_id)
        elif action == "UPDATE_CALL_DATA" and call_data is not None:
            dialog.call_variables.update(call_data.call_variables)
            if call_data.wrap_up_reason is not None:
                dialog.wrap_up_reason = call_data.wrap_up_reason
            self._publish_unchanged(dialog, request_id)
        return None

    def _publish_unchanged(self, dialog: Dialog, request_id: str) -> None:
        """Publish a PUT of ``dialog`` to everyone who sees it (call data changed, also during wrap-up)."""
        for agent_id in sorted(self._audience.get(dialog.id, ())):
            self._notifier.dialog_event(agent_id, dialog, "PUT", self._echo(agent_id, request_id))

    def _consult(
        self, dialog: Dialog, participant: Participant, agent: Agent, to_address: str, request_id: str
    ) -> AsyncError | None:
        consult = self._new_dialog(
            from_address=agent.extension,
            to_address=to_address,
            call_type="CONSULT",
            incoming=False,
            consult_of=dialog.id,
            dialed_number=to_address,
        )
        callee = self._callee(consult, to_address, agent)
        if isinstance(callee, AsyncError):
            self.dialogs.pop(consult.id)
            self._audience.pop(consult.id, None)
            return callee
        consult.call_variables.update(dialog.call_variables)
        self._set_participant_state(participant, "HELD")
        consult.participants.append(self._participant(agent.extension, agent, "ACTIVE"))
        consult.participants.append(callee)
        self._settle(dialog, request_id)
        self._settle(consult, request_id)
        return None

    def _complete_consult(
        self, dialog: Dialog, participant: Participant, agent: Agent, action: str, request_id: str
    ) -> AsyncError | None:
        found = self._answered_consult(dialog, agent.id)
        if found is None:
            return call_operation_failure("NO_ACTIVE_CONSULT")
        consult, target = found
        consult.participants.remove(target)
        dialog.participants.append(target)
        own_consult = consult.participant_of(agent.id)
        if own_consult is not None:
            self._set_participant_state(own_consult, "DROPPED")
        if action == "TRANSFER":
            dialog.call_type = "TRANSFER"
            self._set_participant_state(participant, "DROPPED")
        else:
            dialog.call_type = "CONFERENCE"
            self._set_participant_state(participant, "ACTIVE")
        self._settle(dialog, request_id)
        self._settle(consult, request_id)
        return None

    def _single_step_transfer(
        self, dialog: Dialog, participant: Participant, agent: Agent, to_address: str, request_id: str
    ) -> AsyncError | None:
        callee = self._callee(dialog, to_address, agent)
        if isinstance(callee, AsyncError):
            return callee
        dialog.call_type = "TRANSFER"
        dialog.participants.append(callee)
        self._set_participant_state(participant, "DROPPED")
        self._settle(dialog, request_id)
        return None
