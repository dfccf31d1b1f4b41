"""One connector process of two restarts under a signed-in fleet (a rolling upgrade), with the real
processes of ``fingress bench --spawn-demo``: the apps whose sockets it closed sign in again through the
other process, and when it is back every agent keeps working where its session is; past the grace no
agent's state was changed behind its back, and Finesse forced nobody out."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

from fingress.bench import scenarios
from fingress.bench.agent import SimulatedAgent
from fingress.bench.fleet import Fleet, Progress
from fingress.bench.stack import SpawnedStack, StackOptions
from tests.support.timing import seconds

AGENTS = 12
GRACE_S = 2.0


async def test_a_rolling_restart_of_one_connector_process_leaves_every_agent_working(tmp_path: Path) -> None:
    stack = SpawnedStack(
        options=StackOptions(data_dir=tmp_path, agents=AGENTS, disconnect_grace_s=GRACE_S, connectors=2)
    )
    target = await stack.start()
    fleet = Fleet(target=target, concurrency=16, progress=Progress(), timeout_s=seconds(10))
    try:
        async with asyncio.timeout(seconds(90)):
            await fleet.bring_up(AGENTS)
            assert len(fleet.agents) == AGENTS, fleet.progress.errors
            before = {name: count or 0 for name, count in (await stack.active_sessions()).items()}
            assert min(before.values()) > 0  # the hash spread them: the restart touches some, not all
            closed: list[str] = []

            async def come_back(agent: SimulatedAgent) -> None:
                # Only the restarted process's agents lose their socket; the others' stays open.
                try:
                    async with asyncio.timeout(seconds(6)):
                        await agent.closed.wait()
                except TimeoutError:
                    return
                closed.append(agent.spec.id)
                await scenarios.retrying(
                    lambda: fleet.gated(scenarios.recover(fleet, agent)),
                    policy=scenarios.APP_RETRIES,
                    rng=random.Random(1),
                )

            waiting = [asyncio.create_task(come_back(agent)) for agent in fleet.agents]
            await stack.restart_one_connector(0)
            await asyncio.gather(*waiting)
            assert len(closed) == before["connector-1"]
            # Past the grace, with connector-1 back: every agent is served where its session is and is
            # still READY (an abandoned session would have applied the grace policy: NOT_READY).
            await asyncio.sleep(GRACE_S * 2)
            states: Counter[tuple[int, str | None]] = Counter()
            for agent in fleet.agents:
                answer = await agent.call("GET", "/api/v1/agent")
                states[(answer.status_code, answer.json().get("state"))] += 1
            await asyncio.gather(*(scenarios.call_cycle(fleet, agent) for agent in fleet.agents))
            after = await stack.active_sessions()
            forced = await scenarios.forced_changes(fleet)
    finally:
        await fleet.aclose()
        await stack.stop()
    assert states == {(200, "READY"): AGENTS}
    assert sum(count or 0 for count in after.values()) == AGENTS
    assert forced == []
    counts = scenarios.integrity(fleet)
    assert (counts["lost"], counts["duplicated"], counts["out_of_order"]) == (0, 0, 0), counts
    print(
        f"rolling restart of connector-1 of 2: {len(closed)} apps signed in again,"
        f" all {AGENTS} READY past the grace, sessions {after}"
    )
