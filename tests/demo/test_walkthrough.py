"""The README's and the demo's walkthrough, run against a started demo through the public edge API with real
clients over TLS trusting only demo.json's CA: token → sign in → ready → event stream → ring → answer →
wrap-up → sign out, with the events the agent's stream must show."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from fingress.demo.system import DemoSystem
from fingress.demo.walkthrough import ApiCall, render_walkthrough, ring_body, walkthrough_steps
from tests.support.timing import seconds

pytestmark = pytest.mark.asyncio(loop_scope="module")

Frame = dict[str, Any]


class EventReader:
    """Reads an event socket in the background; tests wait for the frame they expect."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.frames: list[Frame] = []
        self.close_code: int | None = None
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.socket:
                self.frames.append(json.loads(message))
                self._changed.set()
        except ConnectionClosed:
            pass
        self.close_code = self.socket.close_code
        self._changed.set()

    async def wait_for(self, predicate: Callable[[Frame], bool], timeout_s: float = 5.0) -> Frame:
        async with asyncio.timeout(seconds(timeout_s)):
            while True:
                for frame in self.frames:
                    if predicate(frame):
                        return frame
                self._changed.clear()
                await self._changed.wait()

    async def wait_closed(self, timeout_s: float = 5.0) -> int | None:
        async with asyncio.timeout(seconds(timeout_s)):
            await self._task
        return self.close_code


def of_type(type_: str, **data: Any) -> Callable[[Frame], bool]:
    return lambda frame: frame["type"] == type_ and all(frame["data"].get(k) == v for k, v in data.items())


def agent_entry(manifest: dict[str, Any], agent_id: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(agent for agent in manifest["agents"] if agent["id"] == agent_id)
    return entry


async def get_token(client: httpx.AsyncClient, manifest: dict[str, Any], agent: dict[str, Any]) -> str:
    response = await client.post(
        manifest["token_endpoint"],
        data={"grant_type": "password", "username": agent["id"], "password": agent["password"]},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def send(client: httpx.AsyncClient, call: ApiCall, *, dialog_id: str = "") -> httpx.Response:
    """Send one walkthrough step exactly as printed (``$DIALOG`` filled in)."""
    path = call.path.replace("$DIALOG", quote(dialog_id, safe=""))
    return await client.request(call.method, path, json=call.body)


async def test_demo_json_has_exactly_the_documented_keys(manifest: dict[str, Any]) -> None:
    assert set(manifest) == {"edge", "emulator", "ca_file", "agents", "issuer", "token_endpoint"}
    assert set(manifest["edge"]) == {"public", "admin"}
    assert set(manifest["emulator"]) == {"A", "B"}
    for side in manifest["emulator"].values():
        assert set(side) == {"rest", "xmpp_ws", "xmpp_tls"}
    assert manifest["agents"]
    for agent in manifest["agents"]:
        assert set(agent) == {"id", "password", "extension", "mobile_agent", "devices", "roles"}
    shared_line = [agent for agent in manifest["agents"] if agent["devices"]]
    assert shared_line
    assert all(len(agent["devices"]) > 1 for agent in shared_line)
    assert manifest["token_endpoint"].startswith(manifest["issuer"])


async def test_walkthrough(demo: DemoSystem, manifest: dict[str, Any], trust: ssl.SSLContext) -> None:
    agent = agent_entry(manifest, "1002")
    steps = walkthrough_steps(agent)
    public = manifest["edge"]["public"]
    async with httpx.AsyncClient(verify=trust, timeout=seconds(10)) as idp:
        token = await get_token(idp, manifest, agent)
    auth = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=public, headers=auth, verify=trust, timeout=seconds(10)) as api,
        httpx.AsyncClient(
            base_url=manifest["emulator"]["A"]["rest"], verify=trust, timeout=seconds(10)
        ) as emu,
    ):
        signed_in = await send(api, steps["sign_in"])
        assert signed_in.status_code == 200, signed_in.text
        assert (signed_in.json()["signed_in"], signed_in.json()["extension"]) == (True, agent["extension"])
        ready = await send(api, steps["ready"])
        assert (ready.status_code, ready.json()["state"]) == (200, "READY")

        ticket = await api.post("/api/v1/events/ticket")
        assert ticket.status_code == 201, ticket.text
        events_url = public.replace("https://", "wss://") + "/api/v1/events?ticket=" + ticket.json()["ticket"]
        async with asyncio.timeout(seconds(10)):
            socket = await connect(events_url, ssl=trust)
        events = EventReader(socket)
        snapshot = await events.wait_for(lambda frame: frame["type"] == "snapshot")
        assert snapshot["data"]["agent"]["state"] == "READY"

        rung = await emu.post("/emulator/calls", json=ring_body(agent["id"]))
        assert rung.status_code == 201, rung.text
        dialog_id = rung.json()["dialog_id"]
        created = await events.wait_for(of_type("dialog.created", id=dialog_id))
        assert "ANSWER" in created["data"]["actions"]
        await events.wait_for(of_type("agent.updated", state="RESERVED"))

        answered = await send(api, steps["answer"], dialog_id=dialog_id)
        assert (answered.status_code, answered.json()["own_state"]) == (200, "ACTIVE"), answered.text
        await events.wait_for(of_type("agent.updated", state="TALKING"))

        dropped = await send(api, steps["drop"], dialog_id=dialog_id)
        assert (dropped.status_code, dropped.json()["own_state"]) == (200, "WRAP_UP"), dropped.text
        wrapped = await send(api, steps["wrap_up"], dialog_id=dialog_id)
        assert wrapped.status_code == 200, wrapped.text
        assert wrapped.json()["wrap_up_reason"] == steps["wrap_up"].body["wrap_up_reason"]  # type: ignore[index]
        await events.wait_for(of_type("dialog.updated", id=dialog_id, wrap_up_reason="Sale"))

        not_ready = await send(api, steps["not_ready"])
        assert (not_ready.status_code, not_ready.json()["state"]) == (200, "NOT_READY"), not_ready.text
        signed_out = await send(api, steps["sign_out"])
        assert signed_out.status_code in (200, 204), signed_out.text
        ended = await events.wait_for(lambda frame: frame["type"] == "session.ended")
        assert ended["data"]["reason"] == "signed_out"
        assert await events.wait_closed() == 4002

    # Every frame after the snapshot advanced seq by exactly one: nothing lost, nothing repeated.
    seqs = [frame["seq"] for frame in events.frames if frame["type"] not in ("snapshot", "heartbeat")]
    assert seqs == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(seqs)))


async def test_event_stream_with_a_bearer_header_and_resume(
    demo: DemoSystem, manifest: dict[str, Any], trust: ssl.SSLContext
) -> None:
    """What a native app does: the token in a header; a reconnect with ?since= inside the grace."""
    agent = agent_entry(manifest, "1003")
    async with httpx.AsyncClient(verify=trust, timeout=seconds(10)) as idp:
        token = await get_token(idp, manifest, agent)
    auth = {"Authorization": f"Bearer {token}"}
    events_url = manifest["edge"]["public"].replace("https://", "wss://") + "/api/v1/events"
    async with httpx.AsyncClient(
        base_url=manifest["edge"]["public"], headers=auth, verify=trust, timeout=seconds(10)
    ) as api:
        signed_in = await send(api, walkthrough_steps(agent)["sign_in"])
        assert signed_in.status_code == 200, signed_in.text
        async with asyncio.timeout(seconds(10)):
            first = EventReader(await connect(events_url, ssl=trust, additional_headers=auth))
        snapshot = await first.wait_for(lambda frame: frame["type"] == "snapshot")
        await first.socket.close()
        await first.wait_closed()

        ready = await send(api, walkthrough_steps(agent)["ready"])
        assert ready.status_code == 200, ready.text
        async with asyncio.timeout(seconds(10)):
            again = EventReader(
                await connect(f"{events_url}?since={snapshot['seq']}", ssl=trust, additional_headers=auth)
            )
        resumed = await again.wait_for(lambda frame: frame["type"] != "heartbeat")
        # Inside the grace the agent kept its Finesse state; the missed change arrives, not a new snapshot.
        assert (resumed["type"], resumed["seq"]) == ("agent.updated", snapshot["seq"] + 1)
        assert resumed["data"]["state"] == "READY"
        await again.socket.close()
        await again.wait_closed()


async def test_the_printed_walkthrough_carries_the_tested_requests(manifest: dict[str, Any]) -> None:
    text = render_walkthrough(manifest, python="python3", data_dir=".fingress")
    agent = agent_entry(manifest, "1002")
    for call in walkthrough_steps(agent).values():
        if call.body is not None:
            assert json.dumps(call.body) in text
        assert f'-X {call.method} -H "Authorization: Bearer $TOKEN"' in text
        assert f'"$EDGE{call.path}"' in text
    assert json.dumps(ring_body("1002")) in text
    assert manifest["token_endpoint"] in text
    assert f"{manifest['edge']['public'].replace('https://', 'wss://')}/api/v1/events?ticket=$TICKET" in text


async def test_admin_listener_is_ready_and_separate(manifest: dict[str, Any], trust: ssl.SSLContext) -> None:
    async with httpx.AsyncClient(timeout=seconds(5)) as admin:
        ready = await admin.get(manifest["edge"]["admin"] + "/readyz")
        assert (ready.status_code, ready.json()) == (200, {"ready": True})
    async with httpx.AsyncClient(verify=trust, timeout=seconds(5)) as public:
        assert (await public.get(manifest["edge"]["public"] + "/readyz")).status_code == 404


async def test_a_listed_reason_code_passes_both_tiers(
    manifest: dict[str, Any], trust: ssl.SSLContext
) -> None:
    """Reason code ids are opaque strings: what `GET /api/v1/reason-codes` lists, the edge accepts."""
    agent = agent_entry(manifest, "1005")
    async with httpx.AsyncClient(verify=trust, timeout=seconds(10)) as idp:
        token = await get_token(idp, manifest, agent)
    async with httpx.AsyncClient(
        base_url=manifest["edge"]["public"],
        headers={"Authorization": f"Bearer {token}"},
        verify=trust,
        timeout=seconds(10),
    ) as api:
        assert (await send(api, walkthrough_steps(agent)["sign_in"])).status_code == 200
        listed = await api.get("/api/v1/reason-codes", params={"category": "NOT_READY"})
        assert listed.status_code == 200, listed.text
        reason = listed.json()["reason_codes"][0]["id"]
        not_ready = await api.put(
            "/api/v1/agent/state", json={"state": "NOT_READY", "reason_code_id": reason}
        )
        assert not_ready.status_code == 200, not_ready.text
