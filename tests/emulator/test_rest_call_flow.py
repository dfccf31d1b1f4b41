"""A whole call over the real interfaces: the control API offers it, the agent's phone answers, the agent
consults a colleague and transfers (and, in a second call, conferences), drops, and files a wrap-up reason —
every step a REST request answered 202 and confirmed by a notification echoing its requestId."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import defusedxml.ElementTree as SafeET
import httpx
import pytest

from fingress.emulator.server import EmulatorServer
from tests.emulator.support import Notification, RecordingSession

AGENTS = {"1001": "alice-pass", "1003": "carol-pass"}


class Agent:
    def __init__(self, emulator: EmulatorServer, https: httpx.AsyncClient, agent_id: str) -> None:
        self.emulator = emulator
        self.https = https
        self.id = agent_id
        self.auth = (agent_id, AGENTS[agent_id])
        self.session = RecordingSession()
        self.extension = f"{agent_id}001"
        self._counter = 0
        emulator.hub.attach("A", agent_id, self.session)

    def _request_id(self) -> str:
        self._counter += 1
        return f"{self.id}-{self._counter}"

    async def put_user(self, body: str) -> Notification:
        request_id = self._request_id()
        response = await self.https.put(
            f"{self.emulator.base_url('A')}/finesse/api/User/{self.id}",
            auth=self.auth,
            headers={"requestId": request_id},
            content=body.encode(),
        )
        assert response.status_code == 202, response.text
        return await self.session.wait_for(lambda n: n.request_id == request_id)

    async def act(self, dialog_id: str, action: str, extra: str = "") -> Notification:
        request_id = self._request_id()
        body = (
            f"<Dialog><requestedAction>{action}</requestedAction>"
            f"<targetMediaAddress>{self.extension}</targetMediaAddress>{extra}</Dialog>"
        )
        response = await self.https.put(
            f"{self.emulator.base_url('A')}/finesse/api/Dialog/{dialog_id}",
            auth=self.auth,
            headers={"requestId": request_id},
            content=body.encode(),
        )
        assert response.status_code == 202, response.text
        return await self.session.wait_for(lambda n: n.request_id == request_id)

    async def state(self) -> str:
        response = await self.https.get(
            f"{self.emulator.base_url('A')}/finesse/api/User/{self.id}", auth=self.auth
        )
        root: ET.Element = SafeET.fromstring(response.content)
        return root.findtext("state") or ""


async def _control(
    https: httpx.AsyncClient, emulator: EmulatorServer, path: str, **body: object
) -> httpx.Response:
    response = await https.post(f"{emulator.base_url('A')}/emulator{path}", json=body)
    assert response.status_code in (200, 201), response.text
    return response


@pytest.mark.parametrize("completion", ["TRANSFER", "CONFERENCE"])
async def test_offer_answer_consult_complete_drop_and_wrap_up(
    emulator: EmulatorServer, https: httpx.AsyncClient, completion: str
) -> None:
    alice, carol = Agent(emulator, https, "1001"), Agent(emulator, https, "1003")
    for agent in (alice, carol):
        await agent.put_user(f"<User><state>LOGIN</state><extension>{agent.extension}</extension></User>")
    await alice.put_user("<User><state>READY</state></User>")
    offered = await _control(https, emulator, "/calls", agent_id="1001", **{"from": "0201112222"})
    call = offered.json()["dialog_id"]
    await alice.session.wait_for(lambda n: n.event == "POST")
    await _control(https, emulator, f"/calls/{call}/answer")
    assert await alice.state() == "TALKING"
    consult = await alice.act(call, "CONSULT_CALL", f"<toAddress>{carol.extension}</toAddress>")
    assert consult.event in ("PUT", "POST")
    carol_post = await carol.session.wait_for(lambda n: n.event == "POST")
    consult_id = carol_post.text("data/dialogs/Dialog/id")
    assert consult_id is not None
    await carol.act(consult_id, "ANSWER")
    held = await alice.act(call, completion)
    assert held.request_id.startswith("1001-")
    if completion == "TRANSFER":
        assert await alice.state() == "WORK_READY"
        await alice.act(
            call, "UPDATE_CALL_DATA", "<mediaProperties><wrapUpReason>Sale</wrapUpReason></mediaProperties>"
        )
        await alice.put_user("<User><state>READY</state></User>")
        assert await carol.state() == "TALKING"
        dropped = await carol.act(call, "DROP")
    else:
        assert await alice.state() == "TALKING"
        await alice.act(call, "DROP")
        assert await alice.state() == "WORK_READY"
        dropped = await carol.act(call, "DROP")
    assert dropped.event == "DELETE"
    assert await carol.state() == "NOT_READY"
    listing = await https.get(f"{emulator.base_url('A')}/finesse/api/User/1003/Dialogs", auth=carol.auth)
    assert "<Dialog>" not in listing.text


async def test_mode_not_allowed_over_rest(emulator: EmulatorServer, https: httpx.AsyncClient) -> None:
    carol = Agent(emulator, https, "1003")
    error = await carol.put_user(
        "<User><state>LOGIN</state><extension>1003001</extension><mobileAgent><mode>CALL_BY_CALL</mode>"
        "<dialNumber>0612345678</dialNumber></mobileAgent></User>"
    )
    assert error.text("data/apiErrors/apiError/errorType") == "Mode Not Allowed"
    bad = await https.put(
        f"{emulator.base_url('A')}/finesse/api/User/1003",
        auth=carol.auth,
        content=b"<User><state>LOGIN</state><extension>1003001</extension><mobileAgent><mode>ALWAYS</mode>"
        b"<dialNumber>06</dialNumber></mobileAgent></User>",
    )
    assert bad.status_code == 400
    assert "<ErrorType>Invalid Input</ErrorType>" in bad.text


async def test_an_unexpected_failure_is_a_finesse_500_without_details(
    emulator: EmulatorServer, https: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("internal detail /etc/secret")

    monkeypatch.setattr(emulator.cluster, "user_document", broken)
    response = await https.get(f"{emulator.base_url('A')}/finesse/api/User/1001", auth=("1001", "alice-pass"))
    assert response.status_code == 500
    assert "<ErrorType>Internal Server Error</ErrorType>" in response.text
    assert "secret" not in response.text
    assert "Traceback" not in response.text
