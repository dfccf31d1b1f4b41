"""Signing in to an agent Finesse already has signed in: a restarted connector (same emulator, fresh
connector state), or an app signing in again. The session reads the agent's User and Dialogs once its
link is up, finds the agent's calls, and sends no sign-in when Finesse has the agent signed in exactly as
asked; anything else is sent, and Finesse's answer decides."""

from __future__ import annotations

from typing import Any

import structlog

from connector.finesse.commands import SignIn
from edge.tunnel.messages import AgentId
from fingress.emulator.server import EmulatorServer
from tests.connector.conftest import Harness, eventually, of_type
from tests.connector.hublink import HubLinkFactory
from tests.reattach.support import ChangingLinks, Connectors, FinesseRequests

AGENT = "1003"  # not a mobile agent, no wrap-up after incoming calls
EXTENSION = "1003"
MOBILE = {"mode": "CALL_BY_CALL", "dial_number": "0791234567"}


async def ready(harness: Harness, agent: str = AGENT, **sign_in: Any) -> None:
    sign_in.setdefault("extension", EXTENSION)
    status, body = await harness.sign_in(agent, **sign_in)
    assert status == 200, body
    status, body = await harness.call(agent, "PUT", "/api/v1/agent/state", {"state": "READY"})
    assert (status, body["state"]) == (200, "READY"), body


async def on_a_call(harness: Harness, agent: str = AGENT, **sign_in: Any) -> str:
    """Signed in, READY, a customer call offered and answered from the app; the dialog id."""
    await ready(harness, agent, **sign_in)
    sink = await harness.subscribe(agent)
    dialog_id = await harness.offer_call(agent)
    await sink.wait_for(of_type("dialog.created", id=dialog_id))
    status, answered = await act(harness, dialog_id, "ANSWER", agent=agent)
    assert (status, answered["own_state"]) == (200, "ACTIVE"), answered
    await sink.wait_for(of_type("agent.updated", state="TALKING"))
    return dialog_id


async def act(harness: Harness, dialog_id: str, action: str, *, agent: str = AGENT) -> tuple[int, Any]:
    return await harness.call(agent, "POST", f"/api/v1/dialogs/{dialog_id}/actions", {"action": action})


async def dialog_ids(harness: Harness, agent: str = AGENT) -> list[str]:
    status, listing = await harness.call(agent, "GET", "/api/v1/dialogs")
    assert status == 200, listing
    return [dialog["id"] for dialog in listing["dialogs"]]


async def test_a_restarted_connector_finds_the_call_and_sends_no_sign_in(
    connectors: Connectors,
    emulator: EmulatorServer,
    finesse_requests: FinesseRequests,
) -> None:
    async with connectors() as before:
        dialog_id = await on_a_call(before)
    mark = finesse_requests.mark()
    async with connectors() as after:
        with structlog.testing.capture_logs() as logs:
            status, agent = await after.sign_in(AGENT, extension=EXTENSION)
        assert (status, agent["state"], agent["extension"], agent["signed_in"]) == (
            200,
            "TALKING",
            EXTENSION,
            True,
        ), agent
        assert finesse_requests.sign_ins(mark) == 0, finesse_requests.since(mark)
        assert finesse_requests.dialog_reads(mark) == 1
        assert await dialog_ids(after) == [dialog_id]
        # One line says which path the sign-in took; no secret in it.
        [line] = [entry for entry in logs if entry["event"] == "sign_in_reattached"]
        assert (line["agent_id"], line["state"], line["dialogs"]) == (AGENT, "TALKING", 1)
        assert not [entry for entry in logs if entry["event"] == "agent_action"]
        assert "carol-pass" not in repr(logs)
        # Operators count the sign-ins that found the agent signed in and sent nothing.
        text = after.metrics.render().decode()
        assert 'fingress_connector_actions_total{operation="sign_in",outcome="reattached"} 1.0' in text
        assert 'outcome="confirmed"' not in text
        session = after.manager.session(AgentId(AGENT))
        assert session is not None
        assert (session.sign_in_command, session.status) == (SignIn(EXTENSION), "active")

        # The app's stream starts from a snapshot showing the call, and follows it to its end.
        sink = await after.subscribe(AGENT)
        snapshot = sink.frames[0]
        assert snapshot["type"] == "snapshot"
        assert snapshot["data"]["agent"]["state"] == "TALKING"
        assert [dialog["id"] for dialog in snapshot["data"]["dialogs"]] == [dialog_id]
        hung_up = await after.control.post(f"/emulator/calls/{dialog_id}/hangup")
        assert hung_up.status_code == 200, hung_up.text
        await sink.wait_for(of_type("dialog.ended", id=dialog_id))
        await sink.wait_for(
            lambda frame: frame["type"] == "agent.updated" and frame["data"]["state"] != "TALKING"
        )
        assert await dialog_ids(after) == []
        # The reattached session acts like one that signed in.
        status, body = await after.call(
            AGENT, "PUT", "/api/v1/agent/state", {"state": "NOT_READY", "reason_code_id": "1"}
        )
        assert (status, body["state"]) == (200, "NOT_READY"), body


async def test_an_app_resuming_with_the_old_connectors_seq_gets_a_snapshot_not_a_replay(
    connectors: Connectors,
) -> None:
    """The restarted connector's stream does not number from 1 again: the ``since`` the app kept from the
    old one never lands among the new stream's numbers (which would replay them as if they followed)."""
    async with connectors() as before:
        await on_a_call(before)
        seen = max(frame["seq"] for sink in before.sinks for frame in sink.frames)
    async with connectors() as after:
        status, agent = await after.sign_in(AGENT, extension=EXTENSION)
        assert status == 200, agent
        # The new session has events of its own by now (the reattach's re-read of the call).
        resumed = await after.subscribe(AGENT, since=seen)
        first = await resumed.wait_for(lambda frame: True)
        assert first["type"] == "snapshot", resumed.frames
        assert first["seq"] > seen
        assert [dialog["state"] for dialog in first["data"]["dialogs"]] == ["ACTIVE"]


async def test_another_extension_is_sent_after_the_dialogs_are_read_and_finesse_decides(
    connectors: Connectors,
    finesse_requests: FinesseRequests,
) -> None:
    async with connectors() as before:
        await on_a_call(before)
    mark = finesse_requests.mark()
    async with connectors() as after:
        status, problem = await after.sign_in(AGENT, extension="1099")
        # Finesse refuses another extension while the agent is signed in on one.
        assert (status, problem["code"]) == (409, "invalid_state"), problem
        sent = finesse_requests.since(mark)
        assert finesse_requests.sign_ins(mark) == 1
        read_dialogs_at = next(i for i, r in enumerate(sent) if r.path.endswith("/Dialogs"))
        signed_in_at = next(i for i, r in enumerate(sent) if r.signs_in)
        assert read_dialogs_at < signed_in_at, sent
        assert after.manager.session(AgentId(AGENT)) is None
        assert (await after.finesse_agent(AGENT))["state"] == "TALKING"


async def test_a_mobile_agent_change_is_sent_and_the_call_is_known_at_once(
    connectors: Connectors,
    finesse_requests: FinesseRequests,
) -> None:
    agent_id, extension = "1001", "1001001"  # may sign in as a mobile agent; wrap-up is optional
    async with connectors() as before:
        dialog_id = await on_a_call(before, agent_id, extension=extension)
    mark = finesse_requests.mark()
    async with connectors() as after:
        status, agent = await after.sign_in(agent_id, extension=extension, mobile_agent=MOBILE)
        assert (status, agent["state"], agent["mobile_agent"]) == (200, "TALKING", MOBILE), agent
        assert finesse_requests.sign_ins(mark) == 1
        # Finesse's answer to a sign-in is a User notification only: the call is known from the re-read.
        assert await dialog_ids(after, agent_id) == [dialog_id]
        status, dropped = await act(after, dialog_id, "DROP", agent=agent_id)
        assert (status, dropped["own_state"]) == (200, "WRAP_UP"), dropped


async def test_a_signed_out_agent_is_signed_in_without_reading_dialogs(
    connectors: Connectors,
    finesse_requests: FinesseRequests,
) -> None:
    async with connectors() as harness:
        mark = finesse_requests.mark()
        status, agent = await harness.sign_in(AGENT, extension=EXTENSION)
        assert (status, agent["state"]) == (200, "NOT_READY"), agent
        sent = [(request.method, request.path, request.signs_in) for request in finesse_requests.since(mark)]
        user = f"/finesse/api/User/{AGENT}"
        assert sent == [("GET", user, False), ("PUT", user, True)]


async def test_a_call_offered_before_the_link_is_up_is_found_by_the_second_read(
    connectors: Connectors,
    emulator: EmulatorServer,
    finesse_requests: FinesseRequests,
) -> None:
    async with connectors() as before:
        await ready(before)
    offered: list[str] = []

    def offer_call() -> None:
        # No link of the agent is attached: Finesse's notifications about this call reach nobody.
        offered.append(emulator.cluster.offer_call(agent_id=AGENT, from_address="5550100", call_variables={}))

    links = ChangingLinks(HubLinkFactory(emulator), offer_call)
    mark = finesse_requests.mark()
    async with connectors(links=links) as after:
        status, agent = await after.sign_in(AGENT, extension=EXTENSION)
        assert (status, agent["state"]) == (200, "RESERVED"), agent
        assert finesse_requests.sign_ins(mark) == 0
        [dialog_id] = offered
        assert await dialog_ids(after) == [dialog_id]
        status, answered = await act(after, dialog_id, "ANSWER")
        assert (status, answered["own_state"]) == (200, "ACTIVE"), answered


async def test_a_logout_before_the_link_is_up_makes_the_sign_in_go_to_finesse(
    connectors: Connectors,
    emulator: EmulatorServer,
    finesse_requests: FinesseRequests,
) -> None:
    async with connectors() as before:
        await ready(before)
    cluster = emulator.cluster

    def supervisor_logs_out() -> None:
        reason = cluster.directory.system_code("LOGOUT", 999)
        cluster.cti.force(AGENT, target="LOGOUT", reason=reason, side=None)

    links = ChangingLinks(HubLinkFactory(emulator), supervisor_logs_out)
    mark = finesse_requests.mark()
    async with connectors(links=links) as after:
        status, agent = await after.sign_in(AGENT, extension=EXTENSION)
        # The first read saw READY, the second LOGOUT: that one wins, and the agent is signed in anew.
        assert (status, agent["state"]) == (200, "NOT_READY"), agent
        assert finesse_requests.sign_ins(mark) == 1
        session = after.manager.session(AgentId(AGENT))
        assert session is not None
        assert not session.ended


async def test_the_returning_presence_not_a_sign_in_cancels_the_forced_logout(
    connectors: Connectors,
    emulator: EmulatorServer,
    finesse_requests: FinesseRequests,
) -> None:
    """Finesse forces out an agent whose presence stays away past its delay; the agent's presence coming
    back cancels that. A witness agent whose presence left later, and never came back, shows when the
    reattached agent's deadline has passed."""
    witness, witness_extension = "1002", "1002001"
    async with connectors() as witness_connector:
        await ready(witness_connector, witness, extension=witness_extension)
        async with connectors() as before:
            await ready(before)
        # The agent's presence is gone now, the witness's only when its connector stops.
    mark = finesse_requests.mark()
    cti = emulator.cluster.cti
    async with connectors() as after:
        status, agent = await after.sign_in(AGENT, extension=EXTENSION)
        assert (status, agent["state"]) == (200, "READY"), agent
        assert finesse_requests.sign_ins(mark) == 0

        async def witness_forced() -> bool:
            return any(change.agent_id == witness for change in cti.forced_changes)

        await eventually(witness_forced)
        assert [change for change in cti.forced_changes if change.agent_id == AGENT] == []
        assert cti.agents[AGENT].state == "READY"


async def test_an_app_signing_in_again_sends_nothing_unless_a_logout_is_expected(
    connectors: Connectors,
    finesse_requests: FinesseRequests,
) -> None:
    async with connectors() as harness:
        await ready(harness)
        mark = finesse_requests.mark()
        status, agent = await harness.sign_in(AGENT, extension=EXTENSION)
        assert (status, agent["state"]) == (200, "READY"), agent
        assert finesse_requests.sign_ins(mark) == 0
        # A LOGOUT under way (here: the grace policy's) must meet the sign-in in Finesse, in order.
        session = harness.manager.session(AgentId(AGENT))
        assert session is not None
        session.expect_logout("idle_grace")
        mark = finesse_requests.mark()
        status, agent = await harness.sign_in(AGENT, extension=EXTENSION)
        assert (status, agent["state"]) == (200, "READY"), agent
        assert finesse_requests.sign_ins(mark) == 1
        assert session.expected_logout is None
        text = harness.metrics.render().decode()
        assert 'fingress_connector_actions_total{operation="sign_in",outcome="reattached"} 1.0' in text
        assert 'fingress_connector_actions_total{operation="sign_in",outcome="confirmed"} 2.0' in text


async def test_a_device_is_compared_only_when_the_sign_in_names_one(
    connectors: Connectors,
    finesse_requests: FinesseRequests,
) -> None:
    agent_id, shared_line = "1006", "3000"
    first, second = "SEP00AA11BB2201", "SEP00AA11BB2202"
    async with connectors() as harness:
        status, agent = await harness.sign_in(agent_id, extension=shared_line, device_id=first)
        assert (status, agent["device_id"]) == (200, first), agent
        sign_ins = []
        for device in (first, None, second):
            mark = finesse_requests.mark()
            body = {"device_id": device} if device is not None else {}
            status, agent = await harness.sign_in(agent_id, extension=shared_line, **body)
            assert status == 200, agent
            sign_ins.append(finesse_requests.sign_ins(mark))
        assert sign_ins == [0, 0, 1]
        assert agent["device_id"] == second
