"""Presence grace: the app away shorter than the grace changes nothing; longer applies the policy."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from fingress.emulator.server import EmulatorServer
from tests.connector.conftest import Harness, eventually, make_harness, of_type
from tests.support.timing import seconds


async def harness_with(
    emulator: EmulatorServer, http: httpx.AsyncClient, tls: ssl.SSLContext, policy: dict[str, Any]
) -> AsyncIterator[Harness]:
    async for built in make_harness(emulator, http, tls, sessions={"grace_policy": policy}):
        yield built


@pytest.fixture
async def not_ready_harness(
    emulator: EmulatorServer, http: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> AsyncIterator[Harness]:
    async for built in harness_with(
        emulator, http, client_ssl_context, {"action": "not_ready", "reason_code_id": "3"}
    ):
        yield built


@pytest.fixture
async def logout_harness(
    emulator: EmulatorServer, http: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> AsyncIterator[Harness]:
    policy = {"action": "logout", "reason_code_id": "12", "not_ready_reason_code_id": "1"}
    async for built in harness_with(emulator, http, client_ssl_context, policy):
        yield built


async def state_is(harness: Harness, agent: str, state: str) -> bool:
    current: str = (await harness.finesse_agent(agent))["state"]
    return current == state


async def test_app_away_shorter_than_grace_changes_nothing_and_loses_nothing(
    not_ready_harness: Harness,
) -> None:
    harness = not_ready_harness
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
    await sink.wait_for(of_type("agent.updated", state="READY"))
    last_seen = sink.frames[-1]["seq"]

    await harness.unsubscribe("1003", sink)
    # While the app is away a call comes in: it must be waiting on resume.
    dialog_id = await harness.offer_call("1003")
    session = harness.manager.session("1003")  # type: ignore[arg-type]
    assert session is not None
    await eventually(lambda: _has_dialog(harness, dialog_id))
    resumed = await harness.subscribe("1003", since=last_seen)
    assert resumed.frames[0]["seq"] == last_seen + 1
    assert [f["seq"] for f in resumed.frames] == list(range(last_seen + 1, session.events.last_seq + 1))
    assert any(f["type"] == "dialog.created" and f["data"]["id"] == dialog_id for f in resumed.frames)
    # Past the grace: nothing happened in Finesse, the agent is reserved for the call as before.
    await asyncio.sleep(seconds(0.5))
    assert (await harness.finesse_agent("1003"))["state"] == "RESERVED"
    assert not any(f["type"] == "session.ended" for f in resumed.frames)


async def _has_dialog(harness: Harness, dialog_id: str) -> bool:
    session = harness.manager.session("1003")  # type: ignore[arg-type]
    return session is not None and dialog_id in session.mirror.dialogs


async def test_app_away_longer_than_grace_goes_not_ready(not_ready_harness: Harness) -> None:
    harness = not_ready_harness
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
    await harness.unsubscribe("1003", sink)
    await eventually(lambda: state_is(harness, "1003", "NOT_READY"))
    assert (await harness.finesse_agent("1003"))["reason_code_id"] in (3, "3")
    # The session stays: the app coming back sees what happened.
    back = await harness.subscribe("1003", since=sink.frames[-1]["seq"])
    await back.wait_for(of_type("agent.updated", state="NOT_READY"))


async def test_not_ready_during_a_call_becomes_pending_and_applies_after_it(
    not_ready_harness: Harness,
) -> None:
    harness = not_ready_harness
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
    dialog_id = await harness.offer_call("1003")
    await sink.wait_for(of_type("dialog.created", id=dialog_id))
    assert (await harness.control.post(f"/emulator/calls/{dialog_id}/answer")).status_code == 200
    await sink.wait_for(of_type("agent.updated", state="TALKING"))
    await harness.unsubscribe("1003", sink)
    session = harness.manager.session("1003")  # type: ignore[arg-type]
    assert session is not None
    await eventually(lambda: _pending_state(harness, "NOT_READY"))
    assert (await harness.finesse_agent("1003"))["state"] == "TALKING"
    assert (await harness.control.post(f"/emulator/calls/{dialog_id}/hangup")).status_code == 200
    await eventually(lambda: state_is(harness, "1003", "NOT_READY"))


async def _pending_state(harness: Harness, state: str) -> bool:
    session = harness.manager.session("1003")  # type: ignore[arg-type]
    user = session.mirror.user if session is not None else None
    return user is not None and user.pending_state is not None and user.pending_state.value == state


async def test_logout_policy_waits_for_the_call_then_signs_out(logout_harness: Harness) -> None:
    harness = logout_harness
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
    dialog_id = await harness.offer_call("1003")
    await sink.wait_for(of_type("dialog.created", id=dialog_id))
    assert (await harness.control.post(f"/emulator/calls/{dialog_id}/answer")).status_code == 200
    await sink.wait_for(of_type("agent.updated", state="TALKING"))
    await harness.unsubscribe("1003", sink)
    # Well past the grace, the call is still going and the agent still signed in.
    await asyncio.sleep(seconds(0.6))
    assert await state_is(harness, "1003", "TALKING")
    assert (await harness.control.post(f"/emulator/calls/{dialog_id}/hangup")).status_code == 200
    await eventually(lambda: state_is(harness, "1003", "LOGOUT"))
    assert harness.manager.session("1003") is None  # type: ignore[arg-type]
    assert harness.metrics.sessions.labels(state="active")._value.get() == 0


async def test_logout_policy_from_ready_ends_the_session_with_idle_grace(logout_harness: Harness) -> None:
    harness = logout_harness
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
    ready_seq = (await sink.wait_for(of_type("agent.updated", state="READY")))["seq"]
    await harness.unsubscribe("1003", sink)
    await eventually(lambda: state_is(harness, "1003", "LOGOUT"))
    assert harness.manager.session("1003") is None  # type: ignore[arg-type]
    # The away app missed the end; a late subscriber learns there is no session any more.
    assert ready_seq > 0
    with pytest.raises(Exception, match="no_session"):
        await harness.subscribe("1003", since=ready_seq)
