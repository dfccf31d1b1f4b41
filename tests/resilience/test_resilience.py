"""Things break under signed-in agents; nothing is lost. Each test prints one line saying what it checked.

The agents are the benchmark's simulated agents (:mod:`fingress.bench`): real tokens from the demo's
identity provider, real event sockets through the edge, calls offered through the emulator's control API.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections import Counter
from typing import Any

import httpx

from fingress.bench import scenarios
from fingress.bench.agent import SimulatedAgent, of_type
from fingress.bench.fleet import Fleet
from fingress.pki import CertificateAuthority, rotate
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
            await scenarios.hang_up_and_wrap_up(fleet, agent, dialog_id)

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


async def test_certificate_rotated_and_policy_reloaded_under_load(stack: ResilienceStack) -> None:
    fleet = await up(stack)
    pki_dir = stack.demo.data_dir / "pki"
    try:
        public_port = int(fleet.target.public_url.rsplit(":", 1)[1])
        before = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", public_port))

        async def rotate_and_reload() -> bool:
            await asyncio.sleep(0.05)  # let the calls get under way: the reload must happen mid-traffic
            rotate(CertificateAuthority.load(pki_dir), pki_dir / "edge.pem", pki_dir / "edge.key")
            return await stack.edge.reload()

        async with asyncio.timeout(seconds(30)):
            applied, _ = await asyncio.gather(rotate_and_reload(), cycles(fleet))
        assert applied
        after = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", public_port))
        assert after != before, "new handshakes should see the rotated certificate"
        await cycles(fleet)
        counts = assert_intact(fleet)
        print(f"certificate rotated, policy reloaded during calls: new handshakes rotated, {counts}")
    finally:
        await fleet.aclose()


def hostile_requests(token: str) -> list[tuple[str, str, dict[str, str], bytes]]:
    """Malformed or hostile requests (method, path, headers, body); ``token`` is a real agent's token."""
    auth = {"Authorization": f"Bearer {token}"}
    json_type = {"content-type": "application/json"}
    none_token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMDAxIiwiYWdlbnRfaWQiOiIxMDAxIn0."
    return [
        ("GET", "/api/v1/agent", {}, b""),
        ("GET", "/api/v1/agent", {"Authorization": "Bearer not-a-jwt"}, b""),
        ("GET", "/api/v1/agent", {"Authorization": f"Bearer {none_token}"}, b""),
        ("GET", "/api/v1/agent", {"Authorization": "Basic YWxpY2U6cGFzcw=="}, b""),
        ("PUT", "/api/v1/agent/state", {**auth, **json_type}, b"{not json"),
        ("PUT", "/api/v1/agent/state", {**auth, **json_type}, b'{"state": "BOGUS"}'),
        ("PUT", "/api/v1/agent/state", {**auth, **json_type}, b"[" * 5000 + b"]" * 5000),
        (
            "PUT",
            "/api/v1/agent/state",
            {**auth, **json_type},
            b'{"state": "READY", "x": "' + b"A" * 40000 + b'"}',
        ),
        (
            "PUT",
            "/api/v1/agent/state",
            {**auth, "content-type": "text/xml"},
            b"<!DOCTYPE x [<!ENTITY a 'b'>]><x/>",
        ),
        ("POST", "/api/v1/dialogs/does-not-exist/actions", {**auth, **json_type}, b'{"action": "ANSWER"}'),
        (
            "POST",
            "/api/v1/dialogs/..%2F..%2Fetc%2Fpasswd/actions",
            {**auth, **json_type},
            b'{"action": "DROP"}',
        ),
        (
            "POST",
            "/api/v1/dialogs/1/actions",
            {**auth, **json_type},
            b'{"action": "SEND_DTMF", "digits": "\\u0000"}',
        ),
        ("DELETE", "/api/v1/agent", auth, b""),
        ("GET", "/api/v1/" + "a" * 4000, auth, b""),
        ("GET", "/api/v1/events?since=-1", auth, b""),
        ("GET", "/admin/reload", auth, b""),
        ("GET", "/api/v1/agent", {**auth, "X-Big": "x" * 20000}, b""),
        ("GET", "/api/v1/agent", {**auth, "X-Forwarded-For": "10.0.0.1"}, b""),
        ("POST", "/api/v1/agent/session", {**auth, **json_type}, b'{"extension": "\\ud800"}'),
        ("GET", "/api/v1/%ff%fe", auth, b""),
    ]


async def test_hostile_requests_mixed_into_normal_traffic(stack: ResilienceStack) -> None:
    fleet = await up(stack)
    outsider = next(spec for spec in fleet.target.agents if spec.id not in {a.spec.id for a in fleet.agents})
    try:
        token = await fleet.target.token(outsider, http=fleet.api)
        catalogue = hostile_requests(token)
        statuses: Counter[int] = Counter()
        gate = asyncio.Semaphore(16)

        async def hostile(index: int) -> None:
            method, path, headers, body = catalogue[index % len(catalogue)]
            async with gate:
                try:
                    answer = await fleet.api.request(method, path, headers=headers, content=body or None)
                except httpx.HTTPError:
                    statuses[0] += 1  # the edge closed the connection: allowed, not a 5xx
                    return
            statuses[answer.status_code] += 1

        async def normal_traffic() -> None:
            for _ in range(3):
                await cycles(fleet)

        async with asyncio.timeout(seconds(120)):
            await asyncio.gather(normal_traffic(), *(hostile(index) for index in range(1000)))
        server_errors = {status: count for status, count in statuses.items() if status >= 500}
        assert not server_errors, statuses
        counts = assert_intact(fleet)
        assert fleet.progress.failed == 0
        print(f"1000 hostile requests ({dict(sorted(statuses.items()))}) beside 3 calls per agent: {counts}")
    finally:
        await fleet.aclose()


async def test_connector_killed_and_restarted_mid_call(stack: ResilienceStack) -> None:
    """Every agent is on an answered call when the connector restarts; each app recovers as apps do
    (:func:`scenarios.recover`: sign in again, reopen the socket) and finds its call in the snapshot and
    the dialog list, then ends it through the API. Finesse forces nobody out."""
    fleet = await up(stack)
    try:
        async with asyncio.timeout(seconds(30)):
            dialogs = await asyncio.gather(
                *(scenarios.offer_and_answer(fleet, agent) for agent in fleet.agents)
            )
        forced_before = len(await scenarios.forced_changes(fleet))
        rng = random.Random()

        async def come_back(agent: SimulatedAgent, dialog_id: str) -> None:
            await agent.closed.wait()

            def shows_the_call(frame: dict[str, Any]) -> bool:
                listed = (frame.get("data") or {}).get("dialogs") or []
                return frame.get("type") == "snapshot" and dialog_id in {dialog["id"] for dialog in listed}

            shown = agent.expect(shows_the_call)
            await scenarios.retrying(
                lambda: scenarios.recover(fleet, agent), policy=scenarios.APP_RETRIES, rng=rng
            )
            await agent.wait(shown, timeout_s=fleet.timeout_s)
            listing = await agent.call("GET", "/api/v1/dialogs")
            assert [dialog["id"] for dialog in listing.json()["dialogs"]] == [dialog_id], listing.text

        async def end_call(agent: SimulatedAgent, dialog_id: str) -> None:
            over = agent.expect(
                lambda frame: (
                    frame.get("type") == "agent.updated"
                    and (frame.get("data") or {}).get("state") in ("READY", "WORK_READY", "WORK", "NOT_READY")
                )
            )
            await agent.act(dialog_id, "DROP")
            after_call = await agent.wait(over, timeout_s=fleet.timeout_s)
            if after_call["data"]["state"] != "READY":
                await agent.act(dialog_id, "UPDATE_CALL_DATA", wrap_up_reason=await agent.wrap_up_reason())
                await agent.set_state("READY")

        started = time.perf_counter()
        async with asyncio.timeout(seconds(60)):
            coming_back = [
                asyncio.create_task(come_back(agent, dialog_id))
                for agent, dialog_id in zip(fleet.agents, dialogs, strict=True)
            ]
            await stack.restart_connector()
            await asyncio.gather(*coming_back)
            back_s = time.perf_counter() - started
            await asyncio.gather(
                *(end_call(agent, dialog_id) for agent, dialog_id in zip(fleet.agents, dialogs, strict=True))
            )
        forced = len(await scenarios.forced_changes(fleet)) - forced_before
        assert forced == 0
        await cycles(fleet)
        counts = assert_intact(fleet)
        print(
            f"connector restart mid-call: {AGENTS} agents on calls back in {back_s:.2f} s, each snapshot and "
            f"dialog list showed its call, calls ended from the app, {forced} forced logouts, {counts}"
        )
    finally:
        await fleet.aclose()
