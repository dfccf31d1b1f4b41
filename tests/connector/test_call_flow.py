"""The mobile agent's call flow: ready → offered call with call variables → answered on the phone →
consult → transfer or conference → drop → wrap-up reason; and an agent acting only on its own dialogs."""

from __future__ import annotations

from typing import Any

from tests.connector.conftest import Harness, Sink, of_type

MOBILE = {"mode": "CALL_BY_CALL", "dial_number": "0791234567"}


async def ready_with_call(harness: Harness, agent: str) -> tuple[Sink, str, dict[str, Any]]:
    """Sign in as mobile agent, go READY, get a call offered and answer it on the phone."""
    status, signed_in = await harness.sign_in(agent, extension="2" + agent[1:], mobile_agent=MOBILE)
    assert status == 200, signed_in
    assert signed_in["mobile_agent"] == MOBILE
    sink = await harness.subscribe(agent)
    status, body = await harness.call(agent, "PUT", "/api/v1/agent/state", {"state": "READY"})
    assert (status, body["state"]) == (200, "READY")

    dialog_id = await harness.offer_call(agent, callVariable1="acct-42", **{"user.language": "de"})
    created = await sink.wait_for(of_type("dialog.created", id=dialog_id))
    assert created["data"]["call_variables"]["callVariable1"] == "acct-42"
    assert created["data"]["ecc_variables"] == {"language": "de"}
    assert created["data"]["actions"] == ["ANSWER"]
    await sink.wait_for(of_type("agent.updated", state="RESERVED"))

    answer = await harness.control.post(f"/emulator/calls/{dialog_id}/answer")
    assert answer.status_code == 200, answer.text
    answered = await sink.wait_for(of_type("dialog.updated", id=dialog_id, own_state="ACTIVE"))
    assert "CONSULT_CALL" in answered["data"]["actions"]
    await sink.wait_for(of_type("agent.updated", state="TALKING"))
    status, listing = await harness.call(agent, "GET", "/api/v1/dialogs")
    assert [d["id"] for d in listing["dialogs"]] == [dialog_id]
    return sink, dialog_id, answered["data"]


async def act(harness: Harness, agent: str, dialog_id: str, **body: Any) -> tuple[int, Any]:
    return await harness.call(agent, "POST", f"/api/v1/dialogs/{dialog_id}/actions", body)


async def test_mobile_agent_consults_transfers_and_wraps_up(harness: Harness) -> None:
    sink, dialog_id, _ = await ready_with_call(harness, "1001")

    status, held = await act(harness, "1001", dialog_id, action="CONSULT_CALL", to="5550199")
    assert status == 200, held
    consult = await sink.wait_for(lambda f: f["type"] == "dialog.created" and f["data"]["id"] != dialog_id)
    assert consult["data"]["to_address"] == "5550199"
    await sink.wait_for(lambda f: f["type"] == "dialog.updated" and "TRANSFER" in f["data"]["actions"])

    status, transferred = await act(harness, "1001", dialog_id, action="TRANSFER")
    assert status == 200, transferred
    # The customer now talks to the consulted party; the agent wraps the call up.
    wrap_up = await sink.wait_for(of_type("dialog.updated", id=dialog_id, own_state="WRAP_UP"))
    assert wrap_up["data"]["actions"] == ["UPDATE_CALL_DATA"]
    await sink.wait_for(of_type("dialog.ended", id=consult["data"]["id"]))
    await sink.wait_for(
        lambda f: f["type"] == "agent.updated" and f["data"]["state"] in ("WORK", "WORK_READY")
    )

    status, wrapped = await act(harness, "1001", dialog_id, action="UPDATE_CALL_DATA", wrap_up_reason="Sale")
    assert status == 200, wrapped
    assert wrapped["wrap_up_reason"] == "Sale"
    # Every frame after the snapshot advanced seq by exactly one.
    seqs = [frame["seq"] for frame in sink.frames]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_conference_then_drop(harness: Harness) -> None:
    sink, dialog_id, _ = await ready_with_call(harness, "1002")
    status, _ = await act(harness, "1002", dialog_id, action="CONSULT_CALL", to="5550111")
    assert status == 200
    await sink.wait_for(lambda f: f["type"] == "dialog.updated" and "CONFERENCE" in f["data"]["actions"])
    status, conference = await act(harness, "1002", dialog_id, action="CONFERENCE")
    assert status == 200, conference
    assert conference["own_state"] == "ACTIVE"
    assert len([p for p in conference["participants"] if p["state"] == "ACTIVE"]) == 3
    status, dropped = await act(harness, "1002", dialog_id, action="DROP")
    assert (status, dropped["own_state"]) == (200, "WRAP_UP")  # wrap-up is REQUIRED for agent 1002
    status, wrapped = await act(harness, "1002", dialog_id, action="UPDATE_CALL_DATA", wrap_up_reason="Sale")
    assert (status, wrapped["wrap_up_reason"]) == (200, "Sale")
    status, ready = await harness.call("1002", "PUT", "/api/v1/agent/state", {"state": "READY"})
    assert status == 200, ready
    # Leaving wrap-up ends the dialog for the agent.
    await sink.wait_for(of_type("dialog.ended", id=dialog_id))


async def test_hold_retrieve_dtmf_and_call_data(harness: Harness) -> None:
    _sink, dialog_id, _ = await ready_with_call(harness, "1001")
    status, held = await act(harness, "1001", dialog_id, action="HOLD")
    assert (status, held["own_state"]) == (200, "HELD")
    status, active = await act(harness, "1001", dialog_id, action="RETRIEVE")
    assert (status, active["own_state"]) == (200, "ACTIVE")
    status, _ = await act(harness, "1001", dialog_id, action="SEND_DTMF", digits="12#")
    assert status == 200
    status, updated = await act(
        harness, "1001", dialog_id, action="UPDATE_CALL_DATA", call_variables={"callVariable2": "vip"}
    )
    assert (status, updated["call_variables"]["callVariable2"]) == (200, "vip")
    # Finesse refuses what the participant's state does not allow: a confirmed refusal, Finesse's words.
    status, problem = await act(harness, "1001", dialog_id, action="ANSWER")
    assert (status, problem["code"]) == (409, "call_operation_failed")
    assert problem["error_type"] == "Call Operation Failure"
    # Missing values are caught before Finesse.
    status, problem = await act(harness, "1001", dialog_id, action="CONSULT_CALL")
    assert (status, problem["code"]) == (400, "invalid_finesse_request")


async def test_other_agents_dialog_is_not_found_and_never_sent(harness: Harness) -> None:
    _, dialog_id, _ = await ready_with_call(harness, "1001")
    await harness.sign_in("1003", extension="1003")
    before = harness.metrics.finesse_latency.labels(operation="dialog_action")._sum.get()
    status, problem = await act(harness, "1003", dialog_id, action="DROP")
    assert (status, problem["code"]) == (404, "dialog_not_found")
    status, problem = await act(harness, "1003", "../User/1001", action="DROP")
    assert (status, problem["code"]) in ((404, "dialog_not_found"), (404, "route_not_found"))
    assert harness.metrics.finesse_latency.labels(operation="dialog_action")._sum.get() == before


async def test_make_call(harness: Harness) -> None:
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    status, dialog = await harness.call("1003", "POST", "/api/v1/dialogs", {"to": "5550123"})
    assert status == 200, dialog
    assert dialog["to_address"] == "5550123"
    await sink.wait_for(of_type("dialog.created", id=dialog["id"]))
