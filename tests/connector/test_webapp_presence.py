"""The Finesse webapp going down on one side, seen the only way Finesse shows it: the ``finesse`` user's
presence turning unavailable on the XMPP link. The real connector runtime, with the real XMPP client
(WebSocket and direct TLS), against the emulator; the agent must end up working on side B."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest

from connector.runtime import Connector
from fingress.emulator.server import EmulatorServer
from tests.connector.conftest import Harness, connector_config, eventually, of_type
from tests.connector.hublink import HubLinkFactory
from tests.connector.test_xmpp_links import side_tables
from tests.support.timing import seconds

MOBILE = {"mode": "CALL_BY_CALL", "dial_number": "0791234567"}


@pytest.fixture(params=["ws", "tls"])
async def runtime(
    request: pytest.FixtureRequest,
    emulator: EmulatorServer,
    http: httpx.AsyncClient,
    client_ssl_context: ssl.SSLContext,
) -> AsyncIterator[Harness]:
    """The connector's composition root with its default (real XMPP) links, driven like the tunnel would."""
    config = connector_config(emulator, **side_tables(emulator, request.param))
    async with (
        Connector(config=config, finesse_tls=client_ssl_context) as connector,
        httpx.AsyncClient(
            base_url=emulator.base_url("A"), verify=client_ssl_context, timeout=seconds(5)
        ) as control,
    ):
        # The Harness's hub links are not used: the runtime's manager has its own (real) link factory.
        yield Harness(emulator, http, connector.manager, HubLinkFactory(emulator), connector.metrics, control)


async def presence_on(harness: Harness, side: str, agent: str) -> bool:
    response = await harness.control.get("/emulator/presence")
    return bool(response.json().get(side, {}).get(agent))


async def test_webapp_down_on_side_a_moves_the_signed_in_agent_to_side_b(runtime: Harness) -> None:
    harness = runtime
    status, agent = await harness.sign_in("1001", extension="2001", mobile_agent=MOBILE)
    assert status == 200, agent
    sink = await harness.subscribe("1001")
    status, agent = await harness.call("1001", "PUT", "/api/v1/agent/state", {"state": "READY"})
    assert (status, agent["state"]) == (200, "READY")
    await eventually(lambda: presence_on(harness, "A", "1001"))

    response = await harness.control.post("/emulator/sides/A/webapp/down")
    assert response.status_code == 200, response.text

    failover = await sink.wait_for(of_type("alert", kind="failover"))
    assert (failover["data"]["from"], failover["data"]["to"]) == ("A", "B")
    session = harness.manager.session("1001")  # type: ignore[arg-type]
    assert session is not None
    assert session.side == "B"

    async def working_on_side_b() -> bool:
        agent = (await harness.control.get("/emulator/agents")).json()
        entry = next(entry for entry in agent if entry["id"] == "1001")
        return (
            entry["signed_in_side"] == "B"
            and entry["mobile_agent"] == MOBILE
            and entry["state"] == "READY"
            and await presence_on(harness, "B", "1001")
            and not await presence_on(harness, "A", "1001")
        )

    await eventually(working_on_side_b)
    # Side A stayed in service all along (only its webapp is down): nothing was forced on the agent.
    assert (await harness.control.get("/emulator/forced-changes")).json() == []
    # And the agent keeps working on side B: a call offered now reaches the app.
    dialog_id = await harness.offer_call("1001")
    await sink.wait_for(of_type("dialog.created", id=dialog_id))


async def test_webapp_down_on_the_other_side_changes_nothing(runtime: Harness) -> None:
    harness = runtime
    status, agent = await harness.sign_in("1003", extension="1003")
    assert status == 200, agent
    sink = await harness.subscribe("1003")
    await eventually(lambda: presence_on(harness, "A", "1003"))

    assert (await harness.control.post("/emulator/sides/B/webapp/down")).status_code == 200
    # A request after the control call is answered through side A, and no failover was started.
    status, agent = await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
    assert (status, agent["state"]) == (200, "READY")
    await sink.wait_for(of_type("agent.updated", state="READY"))
    await asyncio.sleep(seconds(0.2))  # give a (wrong) failover the time it would need to show
    assert "alert" not in sink.types()
    session = harness.manager.session("1003")  # type: ignore[arg-type]
    assert session is not None
    assert session.side == "A"
