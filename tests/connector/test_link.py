"""Link trouble and failover: reconnect without a forced logout, alerts, resync, side B, stale logouts."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest

from connector.finesse.client import FinesseClient
from connector.finesse.commands import RequestedState, StateChange
from connector.finesse.credentials import PasswordCredentials
from connector.finesse.ids import AgentId
from fingress.emulator.server import EmulatorServer
from tests.connector.conftest import Harness, eventually, make_harness, of_type, start_emulator
from tests.support.timing import seconds

MOBILE = {"mode": "CALL_BY_CALL", "dial_number": "0791234567"}


async def forced_changes(harness: Harness) -> list[dict[str, object]]:
    response = await harness.control.get("/emulator/forced-changes")
    changes: list[dict[str, object]] = response.json()
    return changes


async def test_link_cut_reconnects_before_finesse_notices(harness: Harness) -> None:
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
    opened = harness.links.opened
    harness.links.cut("1003")
    await eventually(lambda: _opened_more_than(harness, opened))
    # Longer than the emulator's presence delay (0.4 s): no forced logout came, the agent is still READY.
    await asyncio.sleep(seconds(0.6))
    assert await forced_changes(harness) == []
    assert (await harness.finesse_agent("1003"))["state"] == "READY"
    assert harness.metrics.xmpp_reconnects._value.get() == 1
    # Notifications flow again on the new link.
    await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "NOT_READY", "reason_code_id": "1"})
    await sink.wait_for(of_type("agent.updated", state="NOT_READY"))
    assert "alert" not in sink.types()  # one quick reconnect is not worth alarming the agent


async def _opened_more_than(harness: Harness, count: int) -> bool:
    return harness.links.opened > count


async def test_repeated_failures_alert_resync_and_recover(harness: Harness, http: httpx.AsyncClient) -> None:
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    harness.links.refused.add("A")
    harness.links.cut("1003")
    alert = await sink.wait_for(of_type("alert", kind="finesse_link_down"))
    assert alert["data"]["side"] == "A"
    # Meanwhile the agent's state changes in Finesse (e.g. from the desk): the notification is lost.
    finesse = FinesseClient(http=http, base_url=harness.emulator.base_url("A"))
    await finesse.change_state(
        PasswordCredentials(AgentId("1003"), "carol-pass"), StateChange(RequestedState.READY)
    )
    harness.links.refused.clear()
    await sink.wait_for(of_type("alert", kind="recovered"))
    # After the reconnect the session re-read the User and told the app what it had missed.
    await sink.wait_for(of_type("agent.updated", state="READY"))


async def test_side_a_out_of_service_moves_the_mobile_agent_to_side_b(harness: Harness) -> None:
    status, _ = await harness.sign_in("1001", extension="2001", mobile_agent=MOBILE)
    assert status == 200
    sink = await harness.subscribe("1001")
    await harness.call("1001", "PUT", "/api/v1/agent/state", {"state": "READY"})
    assert (await harness.control.post("/emulator/sides/A/down")).status_code == 200
    failover = await sink.wait_for(of_type("alert", kind="failover"))
    assert (failover["data"]["from"], failover["data"]["to"]) == ("A", "B")
    session = harness.manager.session("1001")  # type: ignore[arg-type]
    assert session is not None
    assert session.side == "B"

    async def mobile_again() -> bool:
        agent = await harness.finesse_agent("1001")
        return bool(agent.get("mobile_agent")) and agent["state"] == "READY"

    await eventually(mobile_again)
    assert harness.metrics.failovers.labels(to_side="B")._value.get() == 1
    # The agent keeps working on side B: a call arrives and is answered there.
    dialog_id = await harness.offer_call("1001")
    await sink.wait_for(of_type("dialog.created", id=dialog_id))
    status, answered = await harness.call(
        "1001", "POST", f"/api/v1/dialogs/{dialog_id}/actions", {"action": "ANSWER"}
    )
    assert status in (200, 409), answered  # mobile agents may only answer on the phone


async def test_stale_forced_logout_from_the_old_side_is_repaired(harness: Harness) -> None:
    await harness.sign_in("1001", extension="2001", mobile_agent=MOBILE)
    sink = await harness.subscribe("1001")
    await harness.call("1001", "PUT", "/api/v1/agent/state", {"state": "READY"})
    # Side A stays in service but cannot be reached: the session moves to B, and A, seeing the agent's
    # presence gone, later force-logs it out (reason 255) — the documented race.
    harness.links.refused.add("A")
    harness.links.cut("1001")
    await sink.wait_for(of_type("alert", kind="failover"))
    repaired = await sink.wait_for(of_type("alert", kind="stale_logout_repaired"))
    assert repaired["data"]["side"] == "B"
    assert len(await forced_changes(harness)) == 1

    async def restored() -> bool:
        agent = await harness.finesse_agent("1001")
        return agent["state"] == "READY" and bool(agent.get("mobile_agent"))

    await eventually(restored)
    assert "session.ended" not in sink.types()


async def test_real_forced_logout_ends_the_session(harness: Harness, http: httpx.AsyncClient) -> None:
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    # A supervisor (1010 supervises team 5005) signs the agent out.
    response = await http.put(
        harness.emulator.base_url("A") + "/finesse/api/User/1003",
        content=b"<User><state>LOGOUT</state></User>",
        headers={"Content-Type": "application/xml"},
        auth=("1010", "judy-pass"),
    )
    assert response.status_code == 202, response.text
    ended = await sink.wait_for(of_type("session.ended"))
    assert ended["data"]["reason"] in ("supervisor", "forced_logout")
    assert sink.ended
    assert harness.manager.session("1003") is None  # type: ignore[arg-type]


async def test_account_lock_stops_retries(harness: Harness, http: httpx.AsyncClient) -> None:
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    for _ in range(5):
        await http.get(harness.emulator.base_url("A") + "/finesse/api/User/1003", auth=("1003", "bad"))
    harness.links.cut("1003")
    ended = await sink.wait_for(of_type("session.ended"))
    assert ended["data"]["reason"] == "finesse_auth_failed"
    assert "finesse_auth_failed" in [f["data"].get("kind") for f in sink.frames if f["type"] == "alert"]
    opened = harness.links.opened
    await asyncio.sleep(seconds(0.2))
    assert harness.links.opened == opened


@pytest.fixture
async def slow_harness(
    emulator: EmulatorServer, http: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> AsyncIterator[Harness]:
    async for built in make_harness(
        emulator, http, client_ssl_context, finesse={"action_timeout_s": seconds(0.15)}
    ):
        yield built


async def test_unconfirmed_action_answers_202_pending_and_the_outcome_still_arrives(
    slow_harness: Harness,
) -> None:
    harness = slow_harness
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    timing = (await harness.control.get("/emulator/timing")).json()
    timing["async_processing_delay_s"] = seconds(0.5)
    assert (await harness.control.put("/emulator/timing", json=timing)).status_code == 200
    status, body = await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
    assert status == 202
    assert body["status"] == "pending"
    assert body["request_id"]
    await sink.wait_for(of_type("agent.updated", state="READY"))


async def test_device_selection(harness: Harness) -> None:
    status, problem = await harness.sign_in("1006", extension="3000")
    assert (status, problem["code"]) == (409, "device_selection_required")
    devices = [device["device_id"] for device in problem["devices"]]
    assert devices == ["SEP00AA11BB2201", "SEP00AA11BB2202", "CSFAGENT1006"]
    status, agent = await harness.sign_in("1006", extension="3000", device_id="SEP00AA11BB2202")
    assert status == 200, agent
    assert agent["device_id"] == "SEP00AA11BB2202"


async def test_mode_not_allowed(harness: Harness) -> None:
    status, problem = await harness.sign_in("1003", extension="1003", mobile_agent=MOBILE)
    assert (status, problem["code"]) == (403, "mode_not_allowed")
    assert harness.manager.session("1003") is None  # type: ignore[arg-type]


async def test_finesse_presence_unavailable_moves_the_session(harness: Harness) -> None:
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    session = harness.manager.session("1003")  # type: ignore[arg-type]
    assert session is not None
    session.presence("1003@finesse-a.emulator.test/other", False)  # someone else: nothing happens
    assert session.side == "A"
    # What the XMPP link reports when the Finesse webapp on side A goes away.
    session.presence("finesse@finesse-a.emulator.test/webapp", False)
    failover = await sink.wait_for(of_type("alert", kind="failover"))
    assert failover["data"]["to"] == "B"
    assert (await harness.finesse_agent("1003"))["state"] == "NOT_READY"
    assert await forced_changes(harness) == []


@pytest.fixture
async def logout_load_harness(
    server_ssl_context: ssl.SSLContext, http: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> AsyncIterator[Harness]:
    # CCE's LOAD setting for presence loss set to sign the agent out (instead of NOT_READY).
    async for emulator in start_emulator(server_ssl_context, forced_logout_load="logout"):
        async for built in make_harness(emulator, http, client_ssl_context):
            yield built


async def test_stale_forced_logout_signing_out_is_repaired(logout_load_harness: Harness) -> None:
    harness = logout_load_harness
    await harness.sign_in("1001", extension="2001", mobile_agent=MOBILE)
    sink = await harness.subscribe("1001")
    await harness.call("1001", "PUT", "/api/v1/agent/state", {"state": "READY"})
    harness.links.refused.add("A")
    harness.links.cut("1001")
    await sink.wait_for(of_type("agent.updated", state="LOGOUT"))
    await sink.wait_for(of_type("alert", kind="stale_logout_repaired"))

    async def restored() -> bool:
        agent = await harness.finesse_agent("1001")
        return agent["state"] == "READY" and bool(agent.get("mobile_agent"))

    await eventually(restored)
    assert "session.ended" not in sink.types()
    assert harness.manager.session("1001") is not None  # type: ignore[arg-type]


async def test_a_resync_read_that_a_notification_overtook_is_read_again(
    harness: Harness, http: httpx.AsyncClient
) -> None:
    """After a reconnect the session re-reads the User over REST while notifications keep coming over
    XMPP. Here Finesse answers the read (agent NOT_READY), then the agent goes READY and that notification
    is applied before the read's answer is: the older read must not put the session back to NOT_READY."""
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    session = harness.manager.session("1003")  # type: ignore[arg-type]
    assert session is not None
    finesse = FinesseClient(http=http, base_url=harness.emulator.base_url("A"))
    user_reads: list[str] = []

    async def overtake_the_first_read(response: httpx.Response) -> None:
        request = response.request
        if request.method != "GET" or request.url.path != "/finesse/api/User/1003":
            return
        user_reads.append(request.url.path)
        if len(user_reads) == 1:  # the answer is in (NOT_READY); before the session sees it, READY
            await finesse.change_state(
                PasswordCredentials(AgentId("1003"), "carol-pass"), StateChange(RequestedState.READY)
            )
            await sink.wait_for(of_type("agent.updated", state="READY"))

    http.event_hooks["response"].append(overtake_the_first_read)
    async with asyncio.timeout(seconds(10)):
        await session.link_established(reconnected=True)
    http.event_hooks["response"].remove(overtake_the_first_read)

    assert len(user_reads) == 2, "the overtaken read was made again"
    status, agent = await harness.call("1003", "GET", "/api/v1/agent")
    assert (status, agent["state"]) == (200, "READY")
    states = [frame["data"]["state"] for frame in sink.frames if frame["type"] == "agent.updated"]
    assert states[-1] == "READY", states
