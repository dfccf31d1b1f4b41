"""The emulated Finesse cluster: two sides (A and B) over one shared CTI state.

:class:`Cluster` is what both the REST API and the XMPP servers talk to (it implements
:class:`~fingress.emulator.hub.ClusterPort`). REST requests are validated here synchronously — failures
raise the project's :class:`~edge.tunnel.errors.ApiError` classes, rendered as ``<ApiErrors>`` — and the
accepted ones run after ``timing.async_processing_delay_s`` in :class:`~fingress.emulator.cti.Cti`, which
publishes the outcome (202-then-notify). Each side tracks its own agents' XMPP presence and forces a
logout (reason 255) when an agent stays unavailable *on that side*, which reproduces Finesse's race where
the old side signs out an agent who already moved to the other one.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from edge.tunnel.errors import NotFound

from . import config, errors, render
from .accounts import Accounts, CredentialCheck
from .commands import Actor, DialogRequest, UserUpdate
from .cti import DIALOG_ACTIONS, CallData, Cti
from .directory import Directory
from .hub import SIDES, Hub, Side, finesse_user_jid
from .model import MobileAgent, MobileMode
from .notifier import Notifier
from .timers import Scheduler, TimerHandle

_DIGITS = re.compile(r"^[0-9]{1,32}$")
_DIAL_STRING = re.compile(r"^\+?[0-9]{1,32}$")
_DTMF = re.compile(r"^[0-9*#A-D]{1,64}$")
_CALL_VARIABLE = re.compile(r"^(callVariable(10|[1-9])|user\.[A-Za-z0-9_.-]{1,32})$")
MAX_CALL_VARIABLE_CHARS = 255


class Cluster:
    """Sides, presence, accounts and the request façade over the shared CTI state."""

    def __init__(self, *, cluster_config: config.EmulatorConfig, hub: Hub, scheduler: Scheduler) -> None:
        self.config = cluster_config
        self.directory = Directory(cluster_config)
        self.timing = cluster_config.timing
        self._hub = hub
        self._scheduler = scheduler
        self._in_service: dict[Side, bool] = dict.fromkeys(SIDES, True)
        self._webapp_up: dict[Side, bool] = dict.fromkeys(SIDES, True)
        self._presence: dict[Side, dict[str, bool]] = {side: {} for side in SIDES}
        self._presence_timers: dict[Side, dict[str, TimerHandle]] = {side: {} for side in SIDES}
        self.accounts = Accounts(
            agents=cluster_config.agents, behaviour=cluster_config.behaviour, scheduler=scheduler
        )
        self.notifier = Notifier(
            hub=hub,
            directory=self.directory,
            in_service=self.in_service,
            actions_of=lambda dialog, participant: self.cti.actions_of(dialog, participant),
        )
        self.cti = Cti(
            directory=self.directory, scheduler=scheduler, notifier=self.notifier, timing=self.timing
        )
        # Bumped by reset(): requests accepted before a reset must not land in the fresh state.
        self._generation = 0

    def reset(self) -> None:
        """Back to the configured start (control API): every agent signed out, no calls, no locks, both
        sides in service, configured timings. Pending timers and accepted requests are dropped; presence,
        which mirrors the XMPP sessions still connected, is kept."""
        self._generation += 1
        self.cti.cancel_timers()
        for timers in self._presence_timers.values():
            for timer in timers.values():
                timer.cancel()
            timers.clear()
        self.set_timing(self.config.timing)
        self.accounts = Accounts(
            agents=self.config.agents, behaviour=self.config.behaviour, scheduler=self._scheduler
        )
        self.cti = Cti(
            directory=self.directory, scheduler=self._scheduler, notifier=self.notifier, timing=self.timing
        )
        for side in SIDES:
            self.set_in_service(side, True)
            self.set_webapp_up(side, True)

    # ------------------------------------------------------------------------------ ClusterPort

    def authenticate(self, side: Side, agent_id: str, password: str) -> bool:
        return self.in_service(side) and self.accounts.check(agent_id, password) == "ok"

    def in_service(self, side: Side) -> bool:
        return self._in_service[side]

    def webapp_up(self, side: Side) -> bool:
        return self._webapp_up[side]

    def xmpp_domain(self, side: Side) -> str:
        return self._side_settings(side).xmpp_domain

    def presence_changed(self, side: Side, agent_id: str, available: bool) -> None:
        if agent_id not in self.cti.agents:
            return
        self._presence[side][agent_id] = available
        timer = self._presence_timers[side].pop(agent_id, None)
        if timer is not None:
            timer.cancel()
        watching = self.in_service(side) and self.webapp_up(side)
        if not available and watching and self.cti.agents[agent_id].signed_in:
            self._presence_timers[side][agent_id] = self._scheduler.call_later(
                self.timing.presence_logout_delay_s, lambda: self._presence_expired(side, agent_id)
            )

    def _presence_expired(self, side: Side, agent_id: str) -> None:
        self._presence_timers[side].pop(agent_id, None)
        if not (self.in_service(side) and self.webapp_up(side)) or self._presence[side].get(agent_id, False):
            return
        # CCE's LOAD setting chooses; CCX always signs the agent out.
        load = self.config.behaviour.forced_logout_load
        ccx = self.config.system.deployment_type == "UCCX"
        target: Literal["NOT_READY", "LOGOUT"] = "NOT_READY" if load == "not_ready" and not ccx else "LOGOUT"
        self.cti.force(agent_id, target=target, reason=self.directory.system_code(target, 255), side=side)

    def presence(self) -> dict[Side, dict[str, bool]]:
        """Each side's view of agent presence (a copy)."""
        return {side: dict(view) for side, view in self._presence.items()}

    # ------------------------------------------------------------------------------------ sides

    def _side_settings(self, side: Side) -> config.SideSettings:
        return self.config.sides.A if side == "A" else self.config.sides.B

    def set_in_service(self, side: Side, in_service: bool) -> None:
        """Take a side out of service (timers cancelled, OUT_OF_SERVICE published, sessions dropped,
        mobile-agent details of the agents it served lost) or bring it back."""
        if self._in_service[side] == in_service:
            return
        if in_service:
            self._in_service[side] = True
            self.notifier.system_info(side, self._system_info_update(side))
            return
        for timer in self._presence_timers[side].values():
            timer.cancel()
        self._presence_timers[side].clear()
        self._presence[side].clear()
        self._in_service[side] = False
        self.notifier.system_info(side, self._system_info_update(side))
        self._hub.drop_side(side)
        self._forget_mobile_agents(side)

    def _forget_mobile_agents(self, side: Side) -> None:
        """Finesse loses mobile-agent details when its agents move to the other node."""
        for agent in self.cti.agents.values():
            if agent.signed_in_side == side and agent.mobile_agent is not None:
                agent.mobile_agent = None
                agent.nailed_connected = False
                self.notifier.user_changed(agent, "")

    def set_webapp_up(self, side: Side, up: bool) -> None:
        """The Finesse webapp on ``side`` goes down or comes back. Finesse signals it only by the
        ``finesse`` user's presence (see :mod:`.xmpp.session` for the stanza); REST, SystemInfo and the
        CTI state are untouched, so a client must watch that presence to notice. It is the webapp that
        watches agents' presence, so while it is down that side forces no logout on presence loss; and its
        agents must move, so their mobile-agent details are lost as when the side goes out of service."""
        if self._webapp_up[side] == up:
            return
        self._webapp_up[side] = up
        if not up:
            for timer in self._presence_timers[side].values():
                timer.cancel()
            self._presence_timers[side].clear()
            self._forget_mobile_agents(side)
        self._hub.broadcast_presence(side, finesse_user_jid(self.xmpp_domain(side)), up)

    def system_info_document(self, side: Side) -> str:
        return render.serialize(self._system_info_element(side))

    def _system_info_element(self, side: Side) -> ET.Element:
        system = self.config.system
        return render.system_info_element(
            status="IN_SERVICE" if self.in_service(side) else "OUT_OF_SERVICE",
            deployment_type=system.deployment_type,
            system_auth_mode=system.system_auth_mode,
            xmpp_domain=self.xmpp_domain(side),
            primary_host=self.config.sides.A.host,
            secondary_host=self.config.sides.B.host,
            now=self._scheduler.utc_now(),
        )

    def _system_info_update(self, side: Side) -> str:
        return render.update_document(
            render.serialize(self._system_info_element(side)),
            event="PUT",
            request_id="",
            source=render.SYSTEM_INFO_URI,
        )

    def set_timing(self, timing: config.Timing) -> None:
        """Replace the timings (control API); running timers keep their old deadline."""
        self.timing = timing
        self.cti.timing = timing

    # ---------------------------------------------------------------------------------- REST: auth

    def check_password(self, agent_id: str, password: str) -> CredentialCheck:
        return self.accounts.check(agent_id, password)

    def actor(self, agent_id: str) -> Actor:
        profile = self.directory.profiles[agent_id]
        return Actor(agent_id=agent_id, supervisor="Supervisor" in profile.roles)

    def require_in_service(self, side: Side) -> None:
        if not self.in_service(side):
            raise errors.out_of_service()

    def _require_agent(self, agent_id: str) -> None:
        if agent_id not in self.cti.agents:
            raise errors.not_found("User")

    def _may_read(self, actor: Actor, agent_id: str) -> bool:
        return actor.agent_id == agent_id or (
            actor.supervisor and self.directory.supervises(actor.agent_id, agent_id)
        )

    # ---------------------------------------------------------------------------------- REST: reads

    def user_document(self, actor: Actor, agent_id: str) -> str:
        self._require_agent(agent_id)
        if not self._may_read(actor, agent_id):
            raise errors.forbidden("Agents may read only their own User")
        return render.serialize(self.notifier.user_element(self.cti.agents[agent_id], "User"))

    def dialogs_document(self, actor: Actor, agent_id: str) -> str:
        self._require_agent(agent_id)
        if actor.agent_id != agent_id:
            raise errors.forbidden("Agents may read only their own Dialogs")
        return render.dialogs_document(
            self.cti.dialogs_of(agent_id), actions_of=self.cti.actions_of, viewer=agent_id
        )

    def dialog_document(self, actor: Actor, dialog_id: str) -> str:
        dialog = self.cti.dialogs.get(dialog_id)
        if dialog is None:
            raise errors.not_found("Dialog")
        if dialog not in self.cti.dialogs_of(actor.agent_id):
            raise errors.forbidden("Agents may read only their own Dialogs")
        return render.dialog_text(dialog, actions_of=self.cti.actions_of, viewer=actor.agent_id)

    def reason_codes_document(self, actor: Actor, agent_id: str, category: str | None) -> str:
        self._require_agent(agent_id)
        if not self._may_read(actor, agent_id):
            raise errors.forbidden("Agents may read only their own reason codes")
        if category is None:
            raise errors.parameter_missing("category")
        known: dict[str, config.ReasonCategory] = {"NOT_READY": "NOT_READY", "LOGOUT": "LOGOUT"}
        if category not in known:
            raise errors.invalid_input("category", "category must be NOT_READY or LOGOUT")
        return render.reason_codes_document(self.directory.selectable_reason_codes(known[category]))

    def wrap_up_reasons_document(self, actor: Actor, agent_id: str) -> str:
        self._require_agent(agent_id)
        if not self._may_read(actor, agent_id):
            raise errors.forbidden("Agents may read only their own wrap-up reasons")
        return render.wrap_up_reasons_document(self.config.wrap_up_reasons)

    def devices_document(self, actor: Actor, agent_id: str, extension: str | None) -> str:
        """The devices of ``extension`` (or of the agent's current one): an emulator assumption, see docs."""
        self._require_agent(agent_id)
        if actor.agent_id != agent_id:
            raise errors.forbidden("Agents may read only their own devices")
        extension = extension or self.cti.agents[agent_id].extension
        if not extension:
            raise errors.parameter_missing("extension")
        if not _DIGITS.match(extension):
            raise errors.invalid_input("extension", "extension must be digits")
        return render.devices_document(self.directory.devices(extension))

    # --------------------------------------------------------------------------------- REST: writes

    def _defer(self, work: Callable[[], None]) -> None:
        generation = self._generation

        def run() -> None:
            if generation == self._generation:
                work()

        self._scheduler.call_later(self.timing.async_processing_delay_s, run)

    def update_user(
        self, side: Side, actor: Actor, agent_id: str, update: UserUpdate, request_id: str
    ) -> None:
        """Validate a User PUT and accept it (the outcome is published later)."""
        self._require_agent(agent_id)
        own = actor.agent_id == agent_id
        state = update.state
        if state is None:
            raise errors.parameter_missing("state")
        if state not in ("LOGIN", "READY", "NOT_READY", "LOGOUT"):
            raise errors.invalid_input("state", "state must be LOGIN, READY, NOT_READY or LOGOUT")
        if not own and not (
            actor.supervisor and state != "LOGIN" and self.directory.supervises(actor.agent_id, agent_id)
        ):
            raise errors.forbidden("Agents may change only their own state")
        if state == "LOGIN":
            self._accept_sign_in(side, agent_id, update, request_id)
        elif state == "READY":
            self._defer(lambda: self.cti.set_ready(agent_id, request_id))
        else:
            category: Literal["NOT_READY", "LOGOUT"] = "NOT_READY" if state == "NOT_READY" else "LOGOUT"
            reason = self._reason(category, update.reason_code_id, own=own)
            if category == "NOT_READY":
                self._defer(lambda: self.cti.set_not_ready(agent_id, reason, request_id))
            else:
                self._defer(lambda: self.cti.logout(agent_id, reason, request_id))

    def _reason(
        self, category: Literal["NOT_READY", "LOGOUT"], raw: str | None, *, own: bool
    ) -> config.ReasonCode | None:
        if raw is None or raw.strip() in ("", "-1"):
            if not own:
                return self.directory.system_code(category, 999)
            if self.config.behaviour.require_reason_codes:
                raise errors.parameter_missing("reasonCodeId")
            return None
        try:
            code = self.directory.reason_codes.get(int(raw.strip()))
        except ValueError:
            code = None
        if code is None or code.category != category or code.system:
            raise errors.invalid_input("reasonCodeId", f"reasonCodeId is not a {category} reason code")
        return code

    def _accept_sign_in(self, side: Side, agent_id: str, update: UserUpdate, request_id: str) -> None:
        extension = update.extension
        if extension is None or not extension.strip():
            raise errors.parameter_missing("extension")
        if not _DIGITS.match(extension):
            raise errors.invalid_input("extension", "extension must be digits")
        device_id = (update.active_device_id or "").strip()
        if len(device_id) > 64:
            raise errors.invalid_input("activeDeviceId", "activeDeviceId is too long")
        mobile: MobileAgent | None = None
        if update.mobile_agent is not None:
            mode, dial_number = update.mobile_agent.mode, update.mobile_agent.dial_number
            modes: dict[str, MobileMode] = {
                "CALL_BY_CALL": "CALL_BY_CALL",
                "NAILED_CONNECTION": "NAILED_CONNECTION",
            }
            if not mode:
                raise errors.parameter_missing("mode")
            if mode not in modes:
                raise errors.invalid_input("mode", "mode must be CALL_BY_CALL or NAILED_CONNECTION")
            if not dial_number:
                raise errors.parameter_missing("dialNumber")
            if not _DIAL_STRING.match(dial_number):
                raise errors.invalid_input("dialNumber", "dialNumber must be a phone number")
            mobile = MobileAgent(mode=modes[mode], dial_number=dial_number)
        self._defer(
            lambda: self.cti.sign_in(
                agent_id,
                extension=extension,
                device_id=device_id,
                mobile=mobile,
                side=side,
                request_id=request_id,
            )
        )

    def make_call(self, actor: Actor, agent_id: str, request: DialogRequest, request_id: str) -> None:
        self._require_agent(agent_id)
        if actor.agent_id != agent_id:
            raise errors.forbidden("Agents may make calls only for themselves")
        if request.requested_action is None:
            raise errors.parameter_missing("requestedAction")
        if request.requested_action != "MAKE_CALL":
            raise errors.invalid_input("requestedAction", "requestedAction must be MAKE_CALL")
        to_address = self._address(request.to_address, "toAddress")
        from_address = self._address(request.from_address, "fromAddress")
        if from_address != self.cti.agents[agent_id].extension:
            raise errors.invalid_input("fromAddress", "fromAddress must be the agent's own extension")
        self._defer(lambda: self.cti.make_call(agent_id, to_address=to_address, request_id=request_id))

    def dialog_action(self, actor: Actor, dialog_id: str, request: DialogRequest, request_id: str) -> None:
        dialog = self.cti.dialogs.get(dialog_id)
        if dialog is None:
            raise errors.not_found("Dialog")
        if dialog not in self.cti.dialogs_of(actor.agent_id):
            raise errors.forbidden("Agents may act only on their own Dialogs")
        action = request.requested_action
        if action is None:
            raise errors.parameter_missing("requestedAction")
        if action not in DIALOG_ACTIONS:
            raise errors.invalid_input("requestedAction", "unknown requestedAction")
        if request.target_media_address is None:
            raise errors.parameter_missing("targetMediaAddress")
        to_address = ""
        if action in ("CONSULT_CALL", "TRANSFER_SST"):
            to_address = self._address(request.to_address, "toAddress")
        dtmf = ""
        if action == "SEND_DTMF":
            dtmf = request.action_params.get("dtmfString", "")
            if not dtmf:
                raise errors.parameter_missing("dtmfString")
            if not _DTMF.match(dtmf):
                raise errors.invalid_input("dtmfString", "dtmfString may hold only 0-9, *, # and A-D")
        call_data = None
        if action == "UPDATE_CALL_DATA":
            call_data = self._call_data(request.call_variables, request.wrap_up_reason)
        agent_id = actor.agent_id
        self._defer(
            lambda: self.cti.dialog_action(
                agent_id,
                dialog_id,
                action,
                to_address=to_address,
                dtmf=dtmf,
                call_data=call_data,
                request_id=request_id,
            )
        )

    @staticmethod
    def _address(raw: str | None, name: str) -> str:
        if raw is None or not raw.strip():
            raise errors.parameter_missing(name)
        if not _DIAL_STRING.match(raw.strip()):
            raise errors.invalid_input(name, f"{name} must be a phone number")
        return raw.strip()

    @staticmethod
    def _call_data(call_variables: Mapping[str, str], wrap_up_reason: str | None) -> CallData:
        validate_call_variables(call_variables)
        if wrap_up_reason is not None and len(wrap_up_reason) > 39:
            raise errors.invalid_input("wrapUpReason", "wrapUpReason is longer than 39 characters")
        if not call_variables and wrap_up_reason is None:
            raise errors.parameter_missing("mediaProperties")
        return CallData(call_variables=dict(call_variables), wrap_up_reason=wrap_up_reason)

    # ------------------------------------------------------------------------------- control API

    def offer_call(
        self, *, agent_id: str | None, from_address: str, call_variables: Mapping[str, str]
    ) -> str:
        """Offer a customer call now (no asynchronous delay); returns the dialog id.

        Raises ``NotFound`` for an unknown agent, :class:`~fingress.emulator.cti.NoAgentAvailable` when
        nobody can take it."""
        if agent_id is not None and agent_id not in self.cti.agents:
            raise NotFound("unknown_agent", f"no agent {agent_id}")
        validate_call_variables(call_variables)
        return self.cti.offer_call(
            agent_id=agent_id, from_address=from_address, call_variables=call_variables
        ).id

    def update_call_data(
        self,
        dialog_ids: Sequence[str],
        call_variables: Mapping[str, str],
        *,
        stamp_variable: str | None,
        spread_s: float = 0.0,
    ) -> list[str]:
        """Set call variables on dialogs from outside (:meth:`.cti.Cti.update_call_data`); raises
        ``invalid_input`` for a bad name or value before anything changes."""
        validate_call_variables(
            {**call_variables, **({stamp_variable: ""} if stamp_variable is not None else {})}
        )
        return self.cti.update_call_data(
            dialog_ids, call_variables, stamp_variable=stamp_variable, spread_s=spread_s
        )


def validate_call_variables(call_variables: Mapping[str, str]) -> None:
    """Names ``callVariable1..10`` or ECC ``user.<name>``, values at most 255 characters."""
    for name, value in call_variables.items():
        if not _CALL_VARIABLE.match(name):
            raise errors.invalid_input("callvariables", "call variables are callVariable1..10 or user.<name>")
        if len(value) > MAX_CALL_VARIABLE_CHARS:
            raise errors.invalid_input("callvariables", f"call variable {name} is too long")
