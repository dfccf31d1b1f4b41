"""Hypothesis drives random sequences of requests, call events, timers, presence and side changes through
the cluster model: nothing but the project's own errors may escape, and the CTI state stays coherent."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from edge.tunnel.errors import ApiError
from fingress.emulator.commands import DialogRequest, MobileAgentRequest, UserUpdate
from fingress.emulator.cti import CALL_STATES, NoAgentAvailable
from tests.emulator.support import Harness, fast_config

AGENTS = ["1001", "1002", "1003", "1006", "1010"]
EXTENSIONS = {"1001": "1001001", "1002": "1002001", "1003": "1003001", "1006": "3000", "1010": "1010001"}
ACTIONS = [
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
]

operation = st.one_of(
    st.tuples(
        st.just("login"),
        st.sampled_from(AGENTS),
        st.sampled_from([None, "CALL_BY_CALL", "NAILED_CONNECTION"]),
        st.sampled_from(["", "SEP00AA11BB2201"]),
    ),
    st.tuples(
        st.just("state"),
        st.sampled_from(AGENTS),
        st.sampled_from(["READY", "NOT_READY", "LOGOUT"]),
        st.sampled_from([None, "1", "11", "22"]),
        st.sampled_from(AGENTS),
    ),
    st.tuples(st.just("offer"), st.sampled_from([None, *AGENTS])),
    st.tuples(st.just("offer"), st.none()),
    st.tuples(st.just("phone"), st.integers(0, 5)),
    st.tuples(
        st.just("act_on_own"),
        st.integers(0, 5),
        st.integers(0, 3),
        st.sampled_from(ACTIONS),
        st.sampled_from([*EXTENSIONS.values(), "0201112222"]),
    ),
    st.tuples(
        st.just("act_on_own"),
        st.integers(0, 5),
        st.integers(0, 3),
        st.sampled_from(ACTIONS),
        st.sampled_from([*EXTENSIONS.values(), "0201112222"]),
    ),
    st.tuples(
        st.just("act"),
        st.sampled_from(AGENTS),
        st.integers(0, 5),
        st.sampled_from(ACTIONS),
        st.sampled_from([*EXTENSIONS.values(), "0201112222"]),
    ),
    st.tuples(
        st.just("make_call"), st.sampled_from(AGENTS), st.sampled_from([*EXTENSIONS.values(), "0201112222"])
    ),
    st.tuples(st.just("phone"), st.integers(0, 5)),
    st.tuples(st.just("hangup"), st.integers(0, 5)),
    st.tuples(st.just("nailed_hangup"), st.sampled_from(AGENTS)),
    st.tuples(st.just("presence"), st.sampled_from(["A", "B"]), st.sampled_from(AGENTS), st.booleans()),
    st.tuples(st.just("side"), st.sampled_from(["A", "B"]), st.booleans()),
    st.tuples(st.just("advance"), st.sampled_from([0.0, 1.0, 31.0, 61.0, 7200.0])),
)


def _dialog_id(lab: Harness, index: int) -> str:
    ids = sorted(lab.cluster.cti.dialogs)
    return ids[index % len(ids)] if ids else "0"


def _apply(lab: Harness, op: tuple[Any, ...]) -> None:
    cluster = lab.cluster
    kind = op[0]
    if kind == "login":
        _, agent, mode, device = op
        mobile = MobileAgentRequest(mode=mode, dial_number="0612") if mode else None
        update = UserUpdate(
            state="LOGIN", extension=EXTENSIONS[agent], mobile_agent=mobile, active_device_id=device
        )
        cluster.update_user("A", cluster.actor(agent), agent, update, "r")
    elif kind == "state":
        _, agent, state, reason, actor = op
        update = UserUpdate(state=state, reason_code_id=reason)
        cluster.update_user("B", cluster.actor(actor), agent, update, "r")
    elif kind == "offer":
        cluster.offer_call(agent_id=op[1], from_address="0301234567", call_variables={"callVariable1": "x"})
    elif kind in ("act", "act_on_own"):
        if kind == "act_on_own":
            # An agent who is on the dialog acts on it (random agents mostly get 403).
            _, index, party, action, to = op
            dialog = cluster.cti.dialogs.get(_dialog_id(lab, index))
            agent_ids = dialog.agent_ids() if dialog is not None else []
            if not agent_ids:
                return
            agent = agent_ids[party % len(agent_ids)]
        else:
            _, agent, index, action, to = op
        request = DialogRequest(
            requested_action=action,
            target_media_address=EXTENSIONS[agent],
            to_address=to,
            action_params={"dtmfString": "1#"},
            wrap_up_reason="Sale" if action == "UPDATE_CALL_DATA" else None,
        )
        cluster.dialog_action(cluster.actor(agent), _dialog_id(lab, index), request, "r")
    elif kind == "make_call":
        _, agent, to = op
        request = DialogRequest(requested_action="MAKE_CALL", from_address=EXTENSIONS[agent], to_address=to)
        cluster.make_call(cluster.actor(agent), agent, request, "r")
    elif kind == "phone":
        cluster.cti.answer_on_phone(_dialog_id(lab, op[1]))
    elif kind == "hangup":
        cluster.cti.customer_hangup(_dialog_id(lab, op[1]))
    elif kind == "nailed_hangup":
        cluster.cti.hang_up_nailed(op[1])
    elif kind == "presence":
        cluster.presence_changed(op[1], op[2], op[3])
    elif kind == "side":
        cluster.set_in_service(op[1], op[2])
    else:
        lab.advance(op[1])
    lab.settle()


def _check_invariants(lab: Harness) -> None:
    cti = lab.cluster.cti
    for agent in cti.agents.values():
        connected = [
            p
            for d in cti.dialogs.values()
            if not d.nailed_setup_for
            for p in d.participants
            if p.agent_id == agent.id and p.connected
        ]
        assert (agent.state in CALL_STATES) == bool(connected), (agent.id, agent.state, connected)
        if agent.state == "LOGOUT":
            assert agent.extension == ""
            assert not any(d.participant_of(agent.id) for d in cti.dialogs.values())
        if agent.state in ("WORK", "WORK_READY"):
            assert agent.wrap_up_dialog_id in cti.dialogs
        if agent.pending_state:
            assert agent.state in CALL_STATES
    # The extension index answers exactly what a scan of every agent would (and one agent per extension).
    signed_in = [agent for agent in cti.agents.values() if agent.signed_in]
    assert len({agent.extension for agent in signed_in}) == len(signed_in)
    for extension in {*EXTENSIONS.values(), "", "0201112222"}:
        holder = next((agent for agent in signed_in if agent.extension == extension), None)
        assert cti.agent_on_extension(extension) is holder, extension
    for dialog in cti.dialogs.values():
        assert dialog.participants, dialog.id
        assert any(dialog in cti.dialogs_of(agent_id) for agent_id in cti.agents), dialog.id
        for participant in dialog.participants:
            assert participant.state != "DROPPED"


@given(start=st.sampled_from(["idle", "on_call", "consulting"]), operations=st.lists(operation, max_size=60))
@settings(max_examples=500, deadline=None)
def test_random_operations_keep_the_cti_state_coherent(start: str, operations: list[tuple[Any, ...]]) -> None:
    lab = Harness(fast_config(behaviour={"logout_only_from_not_ready": True}))
    for agent in AGENTS:
        lab.watch(agent, "A")
        lab.watch(agent, "B")
    # Start from a working floor so short random sequences reach calls, consults and wrap-up.
    for agent in ("1001", "1002", "1003", "1010"):
        lab.sign_in(agent, EXTENSIONS[agent])
    for agent in ("1001", "1010"):
        lab.ready(agent)
    if start != "idle":
        call = lab.offer("1001")
        lab.cluster.cti.answer_on_phone(call)
        if start == "consulting":
            lab.act("1001", call, "CONSULT_CALL", to_address=EXTENSIONS["1003"])
            consult = next(d.id for d in lab.cluster.cti.dialogs.values() if d.consult_of == call)
            lab.cluster.cti.answer_on_phone(consult)
    for op in operations:
        with contextlib.suppress(ApiError, NoAgentAvailable):
            _apply(lab, op)
        _check_invariants(lab)
        for state in {agent.state for agent in lab.cluster.cti.agents.values()}:
            event(f"reached {state}")
        for dialog in lab.cluster.cti.dialogs.values():
            event(f"dialog {dialog.call_type} {len(dialog.participants)} parties")
    for session in lab.sessions.values():
        for notification in session.notifications:
            assert notification.update.tag == "Update"  # every published document parses
