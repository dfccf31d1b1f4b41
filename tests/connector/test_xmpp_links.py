"""Sessions over the real XMPP client and the emulator's XMPP servers (WebSocket and direct TLS)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest

from connector.sessions.xmpp_links import XmppLinkFactory
from fingress.emulator.server import EmulatorServer
from tests.connector.conftest import Harness, connector_config, make_harness, of_type
from tests.support.timing import seconds


def side_tables(emulator: EmulatorServer, transport: str) -> dict[str, dict[str, object]]:
    def side(name: str) -> dict[str, object]:
        address = (
            emulator.base_url(name).replace("https", "wss") + "/ws/"  # type: ignore[arg-type]
            if transport == "ws"
            else f"127.0.0.1:{emulator.xmpp_port(name)}"  # type: ignore[arg-type]
        )
        domain = emulator.config.sides.A.xmpp_domain if name == "A" else emulator.config.sides.B.xmpp_domain
        return {
            "rest_url": emulator.base_url(name),  # type: ignore[arg-type]
            "xmpp_transport": transport,
            "xmpp_address": address,
            "xmpp_domain": domain,
        }

    return {"finesse": {"side_a": side("A"), "side_b": side("B")}}


@pytest.fixture(params=["ws", "tls"])
async def xmpp_harness(
    request: pytest.FixtureRequest,
    emulator: EmulatorServer,
    http: httpx.AsyncClient,
    client_ssl_context: ssl.SSLContext,
) -> AsyncIterator[Harness]:
    tables = side_tables(emulator, request.param)
    links = XmppLinkFactory(config=connector_config(emulator, **tables), ssl_context=client_ssl_context)
    async for built in make_harness(emulator, http, client_ssl_context, links=links, **tables):
        yield built


async def presence(harness: Harness, side: str, agent: str) -> bool:
    response = await harness.control.get("/emulator/presence")
    return bool(response.json().get(side, {}).get(agent))


async def test_states_and_calls_over_xmpp(xmpp_harness: Harness) -> None:
    harness = xmpp_harness
    status, agent = await harness.sign_in("1001", extension="2001")
    assert status == 200, agent
    assert await presence(harness, "A", "1001")
    sink = await harness.subscribe("1001")
    status, agent = await harness.call("1001", "PUT", "/api/v1/agent/state", {"state": "READY"})
    assert (status, agent["state"]) == (200, "READY")
    dialog_id = await harness.offer_call("1001", callVariable1="x")
    created = await sink.wait_for(of_type("dialog.created", id=dialog_id))
    assert created["data"]["call_variables"] == {"callVariable1": "x"}
    status, answered = await harness.call(
        "1001", "POST", f"/api/v1/dialogs/{dialog_id}/actions", {"action": "ANSWER"}
    )
    assert (status, answered["own_state"]) == (200, "ACTIVE")


async def test_server_drops_the_link_and_the_session_reconnects(xmpp_harness: Harness) -> None:
    harness = xmpp_harness
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
    for xmpp_session in harness.emulator.hub.sessions("A", "1003"):
        xmpp_session.close("connection-timeout")
    async with asyncio.timeout(seconds(5)):
        while harness.metrics.xmpp_reconnects._value.get() < 1:
            await asyncio.sleep(0.01)
    await asyncio.sleep(seconds(0.6))  # longer than the emulator's presence logout delay
    assert (await harness.control.get("/emulator/forced-changes")).json() == []
    status, agent = await harness.call(
        "1003", "PUT", "/api/v1/agent/state", {"state": "NOT_READY", "reason_code_id": "1"}
    )
    assert (status, agent["state"]) == (200, "NOT_READY")
    await sink.wait_for(of_type("agent.updated", state="NOT_READY"))


async def test_wrong_password_on_xmpp_is_not_retried(xmpp_harness: Harness) -> None:
    harness = xmpp_harness
    await harness.sign_in("1003", extension="1003")
    sink = await harness.subscribe("1003")
    for _ in range(5):
        await harness.http.get(harness.emulator.base_url("A") + "/finesse/api/User/1003", auth=("1003", "x"))
    for xmpp_session in harness.emulator.hub.sessions("A", "1003"):
        xmpp_session.close("connection-timeout")
    ended = await sink.wait_for(of_type("session.ended"))
    assert ended["data"]["reason"] == "finesse_auth_failed"
    # The refused connection finishes its close handshake in its own pump task after connect() raised;
    # let it finish before the emulator stops (uvicorn's shutdown trips over a half-closed WebSocket).
    pumps = [task for task in asyncio.all_tasks() if task.get_name().startswith("xmpp 1003@")]
    async with asyncio.timeout(seconds(5)):
        await asyncio.gather(*pumps, return_exceptions=True)
