"""Things break under signed-in agents; nothing is lost. Each test prints one line saying what it checked.

The agents are the benchmark's simulated agents (:mod:`fingress.bench`): real tokens from the demo's
identity provider, real event sockets through the edge, calls offered through the emulator's control API.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fingress.bench import scenarios
from fingress.bench.agent import SimulatedAgent, of_type
from fingress.bench.fleet import Fleet
from tests.resilience.support import ResilienceStack
from tests.support.timing import seconds

AGENTS = 4


async def up(stack: ResilienceStack) -> Fleet:
    fleet = stack.fleet()
    async with asyncio.timeout(seconds(30)):
        await fleet.bring_up(AGENTS)
    assert len(fleet.agents) == AGENTS, fleet.progress.errors
    return fleet


async def cycles(fleet: Fleet) -> None:
    """One complete call for every agent, all at once."""
    async with asyncio.timeout(seconds(30)):
        await asyncio.gather(*(scenarios.call_cycle(fleet, agent) for agent in fleet.agents))


def assert_intact(fleet: Fleet) -> dict[str, Any]:
    counts = scenarios.integrity(fleet)
    assert (counts["lost"], counts["duplicated"], counts["out_of_order"]) == (0, 0, 0), counts
    return counts


async def test_connector_killed_and_restarted(stack: ResilienceStack) -> None:
    fleet = await up(stack)
    try:
        async with asyncio.timeout(seconds(60)):
            result = await scenarios.storm(fleet, restart=stack.restart_connector, deadline_s=seconds(30))
        assert result["agents_back"] == AGENTS, result
        assert result["forced_logouts"] == 0, result
        await cycles(fleet)
        counts = assert_intact(fleet)
        print(
            f"connector restart: {AGENTS} agents back in {result['all_back_s']} s, 0 forced logouts, {counts}"
        )
    finally:
        await fleet.aclose()


async def test_edge_restarted_apps_resume_with_since(stack: ResilienceStack) -> None:
    fleet = await up(stack)
    try:
        await stack.stop_edge()
        async with asyncio.timeout(seconds(10)):
            await asyncio.gather(*(agent.closed.wait() for agent in fleet.agents))
        assert {agent.close_code for agent in fleet.agents} <= {1001, 1006, 1012}
        # Calls offered while the edge is down: the connector buffers their events for the replay.
        offered = [
            await fleet.control_call(
                "POST", "/emulator/calls", {"agent_id": agent.spec.id, "from": "5550100"}
            )
            for agent in fleet.agents
        ]
        assert all(answer.status_code == 201 for answer in offered)
        await stack.start_edge()
        async with asyncio.timeout(seconds(10)):
            await stack.edge.relay.wait_for_connections()
        resyncs_before = scenarios.integrity(fleet)["resyncs"]

        async def resume(agent: SimulatedAgent, dialog_id: str) -> None:
            created = agent.expect(of_type("dialog.created", id=dialog_id))
            await agent.open_events(resume=True)
            await agent.wait(created, timeout_s=seconds(10))
            await agent.act(dialog_id, "ANSWER")
            await fleet.control_call("POST", f"/emulator/calls/{dialog_id}/hangup")
            await agent.set_state("READY")

        async with asyncio.timeout(seconds(30)):
            await asyncio.gather(
                *(
                    resume(agent, answer.json()["dialog_id"])
                    for agent, answer in zip(fleet.agents, offered, strict=True)
                )
            )
        counts = assert_intact(fleet)
        assert counts["resyncs"] == resyncs_before, "the replay should cover the gap, not resynchronise"
        print(f"edge restart: {AGENTS} apps resumed with ?since=, calls offered meanwhile replayed, {counts}")
    finally:
        await fleet.aclose()


async def test_one_tunnel_connection_cut(stack: ResilienceStack) -> None:
    fleet = await up(stack)
    try:
        links = stack.edge.relay.links
        assert len(links) >= 2
        links[0].abort()
        await cycles(fleet)
        async with asyncio.timeout(seconds(10)):
            await stack.edge.relay.wait_for_connections(2)
        await cycles(fleet)
        counts = assert_intact(fleet)
        print(
            f"tunnel: one of {len(links)} connections cut; calls before and after re-dial complete, {counts}"
        )
    finally:
        await fleet.aclose()


async def test_finesse_side_a_down_and_back(stack: ResilienceStack) -> None:
    fleet = await up(stack)
    try:
        before = len(await scenarios.forced_changes(fleet))
        down = await fleet.control_call("POST", "/emulator/sides/A/down")
        assert down.status_code == 200
        await cycles(fleet)
        up_again = await fleet.control_call("POST", "/emulator/sides/A/up")
        assert up_again.status_code == 200
        await cycles(fleet)
        counts = assert_intact(fleet)
        agents = (await fleet.control_call("GET", "/emulator/agents")).json()
        ours = {agent.spec.id for agent in fleet.agents}
        assert {entry["state"] for entry in agents if entry["id"] in ours} == {"READY"}
        forced = len(await scenarios.forced_changes(fleet)) - before
        print(f"side A down and back: calls go on, agents READY, forced changes {forced}, {counts}")
    finally:
        await fleet.aclose()


async def test_xmpp_link_cut_mid_call(stack: ResilienceStack) -> None:
    fleet = await up(stack)
    emulator = stack.demo.emulator
    assert emulator is not None
    try:
        agent = fleet.agents[0]

        async def cut() -> None:
            for side in ("A", "B"):
                for session in emulator.hub.sessions(side, agent.spec.id):
                    session.close("system-shutdown")

        before = len(await scenarios.forced_changes(fleet))
        async with asyncio.timeout(seconds(30)):
            await scenarios.call_cycle(fleet, agent, before_answer=cut)
        await cycles(fleet)
        assert len(await scenarios.forced_changes(fleet)) == before
        counts = assert_intact(fleet)
        print(f"XMPP link cut while a call rang: the call completed, no forced change, {counts}")
    finally:
        await fleet.aclose()


async def test_stalled_event_consumer_does_not_hold_up_others(stack: ResilienceStack) -> None:
    fleet = await up(stack)
    try:
        stalled, others = fleet.agents[0], fleet.agents[1:]
        # The stalled app stops reading: its socket fills; events keep coming for it.
        assert stalled._reader is not None
        stalled._reader.cancel()
        for _ in range(5):
            await fleet.control_call(
                "POST", "/emulator/calls", {"agent_id": stalled.spec.id, "from": "5550101"}
            )
        async with asyncio.timeout(seconds(30)):
            await asyncio.gather(*(scenarios.call_cycle(fleet, agent) for agent in others for _ in range(1)))
        counts = scenarios.integrity(fleet)
        assert (counts["lost"], counts["duplicated"], counts["out_of_order"]) == (0, 0, 0), counts
        print(f"stalled consumer: {len(others)} other agents completed their calls meanwhile, {counts}")
    finally:
        await fleet.aclose()
