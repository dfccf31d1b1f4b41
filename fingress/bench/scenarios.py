"""The four scenarios. Each takes a brought-up :class:`~fingress.bench.fleet.Fleet` and returns a dict of
figures (the ``--json`` output); every wait is bounded."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from fingress.bench.agent import (
    STAMP_VARIABLE,
    AgentFailed,
    RetryPolicy,
    SimulatedAgent,
    of_type,
    parse_retry_after,
)
from fingress.bench.fleet import Fleet, run_for
from fingress.bench.pacing import send_paced
from fingress.bench.stats import Latencies, total

CALLER = "5550199"
_RECOVERABLE = (AgentFailed, httpx.HTTPError)
# How the simulated apps retry a failed recovery: from ~0.25 s, doubling, at most 2 s, after Retry-After.
APP_RETRIES = RetryPolicy(base_s=0.25, cap_s=2.0)


async def call_cycle(
    fleet: Fleet, agent: SimulatedAgent, *, before_answer: Callable[[], Awaitable[None]] | None = None
) -> None:
    """One customer call: offered through the control API, answered by the app, hung up by the customer,
    wrap-up ended by the app going READY. Latency is measured for the frames the two control-API actions
    cause (from sending the action to the frame's arrival)."""
    dialog_id = await offer_and_answer(fleet, agent, before_answer=before_answer)
    await hang_up_and_wrap_up(fleet, agent, dialog_id, shard=hash(agent.spec.id))


async def offer_and_answer(
    fleet: Fleet, agent: SimulatedAgent, *, before_answer: Callable[[], Awaitable[None]] | None = None
) -> str:
    """A customer call offered to ``agent`` through the control API and answered by the app; returns
    the dialog id."""
    timeout_s = fleet.timeout_s
    created = agent.expect(of_type("dialog.created"))
    reserved = agent.expect(of_type("agent.updated", state="RESERVED"))
    agent.caused_by(time.perf_counter())
    shard = hash(agent.spec.id)
    offered = await fleet.control_call(
        "POST", "/emulator/calls", {"agent_id": agent.spec.id, "from": CALLER}, shard=shard
    )
    if offered.status_code != 201:
        agent.caused_by(None)
        raise AgentFailed(f"agent {agent.spec.id}: the emulator refused the call: {offered.status_code}")
    dialog_id: str = offered.json()["dialog_id"]
    if before_answer is not None:
        await before_answer()
    await agent.wait(created, timeout_s=timeout_s)
    await agent.wait(reserved, timeout_s=timeout_s)
    agent.caused_by(None)
    await agent.act(dialog_id, "ANSWER")
    return dialog_id


async def hang_up_and_wrap_up(fleet: Fleet, agent: SimulatedAgent, dialog_id: str, *, shard: int = 0) -> None:
    """The customer hangs up; the agent wraps up where its profile has wrap-up (a reason first: profiles
    with REQUIRED_WITH_WRAP_UP_DATA refuse to leave wrap-up without one), then goes READY."""
    wrap_up = agent.expect(_call_over)
    agent.caused_by(time.perf_counter())
    hung_up = await fleet.control_call("POST", f"/emulator/calls/{dialog_id}/hangup", shard=shard)
    if hung_up.status_code != 200:
        agent.caused_by(None)
        raise AgentFailed(f"agent {agent.spec.id}: hangup refused: {hung_up.status_code}")
    after_call = await agent.wait(wrap_up, timeout_s=fleet.timeout_s)
    agent.caused_by(None)
    if after_call["data"]["state"] != "READY":
        await agent.act(dialog_id, "UPDATE_CALL_DATA", wrap_up_reason=await agent.wrap_up_reason())
        await agent.set_state("READY")


def _call_over(frame: dict[str, Any]) -> bool:
    return frame.get("type") == "agent.updated" and (frame.get("data") or {}).get("state") in (
        "WORK_READY",
        "READY",
    )


def integrity(fleet: Fleet) -> dict[str, Any]:
    return total([agent.sequence for agent in fleet.agents])


def latencies(fleet: Fleet) -> Latencies:
    merged = Latencies()
    for agent in fleet.agents:
        merged.extend(agent.latencies)
    return merged


async def events(
    fleet: Fleet,
    *,
    duration_s: float,
    rate_per_agent: float,
    cpu_seconds: Callable[[], Mapping[str, float | None]] | None = None,
) -> dict[str, Any]:
    """Every agent takes a call and stays on it while the emulator changes the call's data (as an IVR or
    a CRM script does) ``rate_per_agent`` times a second; each change is stamped with the emulator's clock
    when it publishes the notification, so the latency is publication → arrival at the app. Then the
    customers hang up and the agents wrap up. With ``cpu_seconds`` (CPU used so far per process), the CPU
    each process spent per published change while the changes flowed is reported too."""
    fleet.progress.phase = "events: calls offered and answered"
    fleet.progress.done = 0

    async def take_call(agent: SimulatedAgent) -> tuple[SimulatedAgent, str] | None:
        try:
            dialog_id = await fleet.gated(offer_and_answer(fleet, agent))
        except _RECOVERABLE as error:
            fleet.progress.fail(error)
            return None
        fleet.progress.done += 1
        return agent, dialog_id

    on_call = [pair for pair in await asyncio.gather(*map(take_call, fleet.agents)) if pair is not None]
    fleet.progress.phase = "events"
    fleet.progress.done = 0
    before = {agent.spec.id: agent.sequence.received for agent, _ in on_call}
    cpu_before = cpu_seconds() if cpu_seconds is not None else {}
    published = await _publish_call_data(fleet, [dialog for _, dialog in on_call], duration_s, rate_per_agent)
    # Let the last notifications arrive before counting.
    await _settle(lambda: sum(len(agent.published_to_arrival.samples_s) for agent, _ in on_call) >= published)
    cpu_per_event = _cpu_per_event(cpu_before, cpu_seconds() if cpu_seconds is not None else {}, published)
    arrived = Latencies()
    for agent, _ in on_call:
        arrived.extend(agent.published_to_arrival)
    received = sum(agent.sequence.received - before[agent.spec.id] for agent, _ in on_call)

    fleet.progress.phase = "events: customers hang up, agents wrap up"

    async def end_call(agent: SimulatedAgent, dialog_id: str) -> None:
        try:
            await fleet.gated(hang_up_and_wrap_up(fleet, agent, dialog_id, shard=hash(agent.spec.id)))
        except _RECOVERABLE as error:
            fleet.progress.fail(error)

    await asyncio.gather(*(end_call(agent, dialog) for agent, dialog in on_call))
    return {
        "agents": len(fleet.agents),
        "agents_on_call": len(on_call),
        "duration_s": duration_s,
        "target_rate_per_agent": rate_per_agent,
        "published": published,
        "events_per_s": round(received / duration_s, 1),
        "latency": arrived.summary_ms(),
        "stamped_arrived": len(arrived.samples_s),
        **({"cpu_us_per_event": cpu_per_event} if cpu_per_event else {}),
        "integrity": integrity(fleet),
        "failures": fleet.progress.failed,
    }


async def _publish_call_data(
    fleet: Fleet, dialogs: list[str], duration_s: float, rate_per_agent: float
) -> int:
    """Ask the emulator, in a batch every tick, to stamp each dialog's call data ``rate_per_agent`` times a
    second for ``duration_s``, the batch's updates spread over the tick (independent changes, not bursts);
    returns how many updates the emulator published."""
    if not dialogs:
        return 0
    tick_s = 0.1
    published = 0

    async def send(batch: list[str], shard: int) -> None:
        nonlocal published
        try:
            answer = await fleet.control_call(
                "POST",
                "/emulator/calls/call-data",
                {"dialog_ids": batch, "stamp_variable": STAMP_VARIABLE, "spread_s": tick_s},
                shard=shard,
            )
        except httpx.HTTPError as error:
            fleet.progress.fail(error)
            return
        if answer.status_code != 200:
            fleet.progress.fail(AgentFailed(f"call-data answered {answer.status_code}"))
            return
        published += len(answer.json()["updated"])
        fleet.progress.done = published

    await send_paced(
        random.sample(dialogs, len(dialogs)),
        per_second=rate_per_agent * len(dialogs),
        duration_s=duration_s,
        tick_s=tick_s,
        send=send,
    )
    return published


def _cpu_per_event(
    before: Mapping[str, float | None], after: Mapping[str, float | None], events: int
) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, end in after.items():
        start = before.get(name)
        if start is not None and end is not None and events:
            figures[name] = round((end - start) / events * 1e6, 1)
    return figures


async def _settle(done: Callable[[], bool], *, timeout_s: float = 5.0, poll_s: float = 0.05) -> None:
    """Wait until ``done()`` (polled: it counts frames many readers record) or ``timeout_s``."""
    for _ in range(round(timeout_s / poll_s)):
        if done():
            return
        await asyncio.sleep(poll_s)


async def requests(fleet: Fleet, *, duration_s: float) -> dict[str, Any]:
    """Every agent reads its agent (``GET /api/v1/agent``) back to back, then the same call is made directly
    on the emulator (``GET /finesse/api/User/{id}`` with the agent's Basic credentials) for comparison;
    state changes (READY ↔ NOT_READY, confirmed by Finesse's notification) are timed on their own."""
    gateway, direct, states = Latencies(), Latencies(), Latencies()

    async def timed(into: Latencies, request: Callable[[], Awaitable[httpx.Response]]) -> None:
        started = time.perf_counter()
        try:
            answer = await request()
        except httpx.HTTPError as error:
            fleet.progress.fail(error)
            return
        if answer.status_code >= 300:
            fleet.progress.fail(AgentFailed(f"HTTP {answer.status_code}"))
            return
        into.add(time.perf_counter() - started)
        fleet.progress.done += 1

    async def through_edge(agent: SimulatedAgent) -> None:
        await run_for(duration_s, lambda: timed(gateway, lambda: agent.call("GET", "/api/v1/agent")))

    async def directly(agent: SimulatedAgent) -> None:
        auth = (agent.spec.id, agent.spec.password)
        path = f"/finesse/api/User/{agent.spec.id}"
        client = fleet.control_for(hash(agent.spec.id))
        await run_for(duration_s, lambda: timed(direct, lambda: client.get(path, auth=auth)))

    async def toggle(agent: SimulatedAgent) -> None:
        bodies = ({"state": "NOT_READY", "reason_code_id": "1"}, {"state": "READY"})
        turn = 0

        async def one() -> None:
            nonlocal turn
            await timed(states, lambda: agent.call("PUT", "/api/v1/agent/state", bodies[turn % 2]))
            turn += 1

        await run_for(duration_s / 2, one)

    results: dict[str, Any] = {"agents": len(fleet.agents)}
    for name, into, work in (
        ("gateway", gateway, through_edge),
        ("direct", direct, directly),
    ):
        fleet.progress.phase = f"requests: {name}"
        started = time.perf_counter()
        await asyncio.gather(*(work(agent) for agent in fleet.agents))
        elapsed_s = time.perf_counter() - started
        results[name] = {**into.summary_ms(), "per_s": round(len(into.samples_s) / elapsed_s, 1)}
    fleet.progress.phase = "requests: state changes"
    started = time.perf_counter()
    await asyncio.gather(*(toggle(agent) for agent in fleet.agents))
    results["state_changes"] = {
        **states.summary_ms(),
        "per_s": round(len(states.samples_s) / (time.perf_counter() - started), 1),
    }
    gateway_p50, direct_p50 = results["gateway"]["p50_ms"], results["direct"]["p50_ms"]
    if gateway_p50 and direct_p50:
        results["gateway_to_direct_p50_ratio"] = round(gateway_p50 / direct_p50, 2)
    results["failures"] = fleet.progress.failed
    return results


async def forced_changes(fleet: Fleet) -> list[dict[str, Any]]:
    """The emulator's system-forced changes (presence loss, …) for the fleet's agents."""
    ids = {agent.spec.id for agent in fleet.agents}
    answer = await fleet.control_call("GET", "/emulator/forced-changes")
    return [change for change in answer.json() if change.get("agent_id") in ids]


async def retrying(
    attempt: Callable[[], Awaitable[None]],
    *,
    policy: RetryPolicy,
    rng: random.Random,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run ``attempt`` until it succeeds, pausing after each recoverable failure as ``policy`` says (after
    the answer's Retry-After, when it had one); the caller bounds the whole with a timeout. Any other
    exception ends it."""
    failures = 0
    while True:
        try:
            await attempt()
            return
        except _RECOVERABLE as error:
            retry_after_s = error.retry_after_s if isinstance(error, AgentFailed) else None
            await sleep(policy.delay_s(failures, retry_after_s=retry_after_s, rng=rng))
            failures += 1


async def recover(fleet: Fleet, agent: SimulatedAgent) -> None:
    """What the app does when its socket closes: resume if the session is still there, else sign in
    again, then reopen the socket (``?since=``) and wait for its first frame. An answer that is neither
    the agent (200) nor "no session" (404) fails the try at once (a 503 while no connector is up: signing
    in would fail the same way), carrying its Retry-After."""
    answer = await agent.call("GET", "/api/v1/agent")
    if answer.status_code == 200:
        signed_in = bool(answer.json().get("signed_in", True))
    elif answer.status_code == 404:
        signed_in = False
    else:
        raise AgentFailed(
            f"agent {agent.spec.id}: reading the agent answered {answer.status_code}",
            retry_after_s=parse_retry_after(answer.headers.get("Retry-After")),
        )
    if not signed_in:
        await agent.sign_in()
    first = agent.expect(lambda frame: frame.get("type") != "heartbeat")
    await agent.open_events(resume=True)
    await agent.wait(first, timeout_s=fleet.timeout_s)


async def storm(
    fleet: Fleet,
    *,
    restart: Callable[[], Awaitable[None]],
    deadline_s: float,
    policy: RetryPolicy = APP_RETRIES,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """The connector restarts under a signed-in fleet; every app recovers (:func:`recover`), retrying as
    ``policy`` says. Reports the time from the restart until the last agent is back, and Finesse's forced
    logouts of the fleet."""
    fleet.progress.phase = "storm: restarting the connector"
    fleet.progress.done = 0
    before = len(await forced_changes(fleet))
    started = time.perf_counter()
    back_at: list[float] = []
    jitter = rng or random.Random()

    async def come_back(agent: SimulatedAgent) -> None:
        try:
            async with asyncio.timeout(deadline_s):
                await agent.closed.wait()
                await retrying(lambda: fleet.gated(recover(fleet, agent)), policy=policy, rng=jitter)
        except TimeoutError:
            fleet.progress.fail(AgentFailed(f"agent {agent.spec.id}: not back in {deadline_s} s"))
            return
        back_at.append(time.perf_counter() - started)
        fleet.progress.done += 1

    waiting = [asyncio.create_task(come_back(agent)) for agent in fleet.agents]
    await restart()
    restarted_s = time.perf_counter() - started
    fleet.progress.phase = "storm: agents coming back"
    await asyncio.gather(*waiting)
    after = await forced_changes(fleet)
    return {
        "agents": len(fleet.agents),
        "connector_restart_s": round(restarted_s, 2),
        "agents_back": len(back_at),
        "all_back_s": round(max(back_at), 2) if back_at else None,
        "forced_logouts": len(after) - before,
        "failures": fleet.progress.failed,
    }


async def flap(
    fleet: Fleet,
    *,
    duration_s: float,
    grace_s: float,
    policy: RetryPolicy = APP_RETRIES,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Agents drop their event socket at random, get a call offered while away, and reopen with
    ``?since=`` within half the grace; the replay must bring every event exactly once, in order, and Finesse
    must see no state change of its own making. An app whose cycle failed with its socket closed reopens
    it, retrying as ``policy`` says (bounded by the fleet's timeout)."""
    fleet.progress.phase = "flap"
    before = len(await forced_changes(fleet))
    flaps = 0
    jitter = rng or random.Random()

    async def reopen(agent: SimulatedAgent) -> None:
        try:
            async with asyncio.timeout(fleet.timeout_s):
                await retrying(lambda: agent.open_events(resume=True), policy=policy, rng=jitter)
        except TimeoutError:
            fleet.progress.fail(AgentFailed(f"agent {agent.spec.id}: socket not reopened in time"))

    async def drive(agent: SimulatedAgent) -> None:
        async def one() -> None:
            nonlocal flaps
            await asyncio.sleep(random.uniform(0.1, 1.0))
            await agent.close_events()
            away_s = random.uniform(0.0, grace_s / 2)

            async def come_back() -> None:
                await asyncio.sleep(away_s)
                await agent.open_events(resume=True)

            try:
                await call_cycle(fleet, agent, before_answer=come_back)
            except _RECOVERABLE as error:
                fleet.progress.fail(error)
                if agent.closed.is_set():
                    await reopen(agent)
                return
            flaps += 1
            fleet.progress.done += 1

        await run_for(duration_s, one)

    await asyncio.gather(*(drive(agent) for agent in fleet.agents))
    after = await forced_changes(fleet)
    states = (await fleet.control_call("GET", "/emulator/agents")).json()
    ids = {agent.spec.id for agent in fleet.agents}
    not_ready = [entry["id"] for entry in states if entry["id"] in ids and entry["state"] == "NOT_READY"]
    return {
        "agents": len(fleet.agents),
        "flaps": flaps,
        "integrity": integrity(fleet),
        "forced_changes": len(after) - before,
        "agents_not_ready": len(not_ready),
        "failures": fleet.progress.failed,
    }
