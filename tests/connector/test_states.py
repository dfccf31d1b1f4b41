"""A non-mobile agent signs in and changes states; confirmed results; errors with stable codes."""

from __future__ import annotations

import ssl

import httpx
import pytest
import structlog.testing

from edge.tunnel.errors import ApiError
from edge.tunnel.messages import AgentId, Principal, TunnelRequest
from fingress.emulator.server import EmulatorServer
from tests.connector.conftest import Harness, make_harness, of_type


async def test_non_mobile_agent_changes_states(harness: Harness) -> None:
    status, agent = await harness.sign_in("1003", extension="1003")
    assert status == 200, agent
    assert (agent["state"], agent["extension"], agent["mobile_agent"]) == ("NOT_READY", "1003", None)
    sink = await harness.subscribe("1003")
    assert sink.types() == ["snapshot"]
    assert sink.frames[0]["data"]["agent"]["state"] == "NOT_READY"

    status, agent = await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
    assert (status, agent["state"]) == (200, "READY")
    assert (await harness.finesse_agent("1003"))["state"] == "READY"
    await sink.wait_for(of_type("agent.updated", state="READY"))

    status, agent = await harness.call(
        "1003", "PUT", "/api/v1/agent/state", {"state": "NOT_READY", "reason_code_id": "2"}
    )
    assert (status, agent["state"], agent["reason_code"]["label"]) == (200, "NOT_READY", "Lunch")

    status, codes = await harness.call("1003", "GET", "/api/v1/reason-codes", query="category=NOT_READY")
    assert status == 200
    assert {"id": "1", "code": 1, "label": "Break", "category": "NOT_READY"} in codes["reason_codes"]
    status, reasons = await harness.call("1003", "GET", "/api/v1/wrap-up-reasons")
    assert status == 200
    assert {"id": "1", "label": "Sale"} in reasons["wrap_up_reasons"]

    status, agent = await harness.call("1003", "DELETE", "/api/v1/agent/session", {"reason_code_id": "11"})
    assert (status, agent["state"]) == (200, "LOGOUT")
    ended = await sink.wait_for(of_type("session.ended"))
    assert ended["data"] == {"reason": "signed_out"}
    assert sink.ended
    assert (await harness.finesse_agent("1003"))["state"] == "LOGOUT"
    assert harness.manager.session("1003") is None  # type: ignore[arg-type]
    seqs = [frame["seq"] for frame in sink.frames]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) or sink.frames[0]["type"] == "snapshot"


async def test_missing_reason_code_is_a_bad_request_with_finesse_words(harness: Harness) -> None:
    await harness.sign_in("1003", extension="1003")
    status, problem = await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "NOT_READY"})
    assert status == 400
    assert problem["code"] == "finesse_bad_request"
    assert problem.get("error_type")


async def test_logout_from_ready_is_an_invalid_state_conflict(harness: Harness) -> None:
    await harness.sign_in("1003", extension="1003")
    await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
    status, problem = await harness.call("1003", "DELETE", "/api/v1/agent/session", {"reason_code_id": "11"})
    assert (status, problem["code"]) == (409, "invalid_state")
    assert problem["error_type"] == "Invalid State"
    assert problem["request_id"]
    # The session goes on: the refused sign-out was not taken for a forced logout.
    assert harness.manager.session("1003") is not None  # type: ignore[arg-type]


async def test_bad_input_never_reaches_finesse(harness: Harness) -> None:
    assert (await harness.call("1003", "GET", "/api/v1/agent"))[1]["code"] == "no_session"
    status, problem = await harness.call("1003", "POST", "/api/v1/agent/session", {"extension": "1003"})
    assert (status, problem["code"]) == (400, "finesse_password_required")
    status, problem = await harness.sign_in("1003", extension="1003", colour="blue")
    assert (status, problem["code"]) == (400, "invalid_body")
    await harness.sign_in("1003", extension="1003")
    for body in (b"{", b"[]", b'{"state": "DANCING"}'):
        status, problem = await harness.call("1003", "PUT", "/api/v1/agent/state", body.decode())
        assert (status, problem["code"]) == (400, "invalid_body")
    status, problem = await harness.call("1003", "GET", "/api/v1/reason-codes", query="category=x")
    assert (status, problem["code"]) == (400, "invalid_category")
    status, problem = await harness.call("1003", "PATCH", "/api/v1/agent")
    assert (status, problem["code"]) == (400, "method_not_allowed")
    status, problem = await harness.call("1003", "GET", "/api/v1/nothing")
    assert (status, problem["code"]) == (404, "route_not_found")


async def test_wrong_password_fails_sign_in_without_a_session(harness: Harness) -> None:
    status, problem = await harness.sign_in("1003", extension="1003", finesse_password="wrong")
    assert (status, problem["code"]) == (401, "finesse_auth_failed")
    assert "wrong" not in str(problem)
    assert harness.manager.session("1003") is None  # type: ignore[arg-type]


async def test_no_secret_in_logs_or_reprs(harness: Harness) -> None:
    with structlog.testing.capture_logs() as logs:
        await harness.sign_in("1003", extension="1003")
        await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
        await harness.sign_in("1003", extension="1003", finesse_password="carol-wrong")
    assert any(entry["event"] == "agent_action" and entry["agent_id"] == "1003" for entry in logs)
    assert "carol-pass" not in repr(logs)
    assert "carol-wrong" not in repr(logs)
    session = harness.manager.session("1003")  # type: ignore[arg-type]
    assert session is not None
    assert "carol-pass" not in repr(session)
    assert "carol-pass" not in repr(session._credentials)
    # The mistyped password did not replace the working one.
    status, _ = await harness.call(
        "1003", "PUT", "/api/v1/agent/state", {"state": "NOT_READY", "reason_code_id": "1"}
    )
    assert status == 200


async def test_bearer_mode_uses_and_refreshes_the_forwarded_token(
    emulator: EmulatorServer, http: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> None:
    async for harness in make_harness(emulator, http, client_ssl_context, finesse={"auth_mode": "bearer"}):
        status, problem = await harness.sign_in("1003", extension="1003")
        assert (status, problem["code"]) == (401, "finesse_token_missing")
        principal = Principal(agent_id=AgentId("1003"), subject="1003", token="token-one")
        request = TunnelRequest(
            "r1", "POST", "/api/v1/agent/session", "", {}, b'{"extension": "1003"}', principal
        )
        with pytest.raises(ApiError) as caught:
            await harness.manager.handle(request)
        # The emulator's bearer support is off: Finesse refuses the token, nothing is kept.
        assert caught.value.code == "finesse_auth_failed"
        assert "token-one" not in repr(principal)
