"""The JSON control API over real TLS: offer a call, answer on the phone, customer hang-up, sides down and
up, timings, inspection, and JSON errors for bad input."""

from __future__ import annotations

import itertools
import time

import httpx
import pytest

from fingress.emulator.server import EmulatorServer
from tests.emulator.support import Notification, RecordingSession

ALICE = ("1001", "alice-pass")


async def _ready(emulator: EmulatorServer, https: httpx.AsyncClient, session: RecordingSession) -> None:
    base = f"{emulator.base_url('A')}/finesse/api/User/1001"
    await https.put(
        base, auth=ALICE, content=b"<User><state>LOGIN</state><extension>1001001</extension></User>"
    )
    await https.put(
        base, auth=ALICE, content=b"<User><state>READY</state></User>", headers={"requestId": "rdy"}
    )
    await session.wait_for(lambda n: n.request_id == "rdy")


async def test_offer_answer_on_the_phone_and_customer_hangup(
    emulator: EmulatorServer, https: httpx.AsyncClient
) -> None:
    session = RecordingSession()
    emulator.hub.attach("A", "1001", session)
    await _ready(emulator, https, session)
    control = f"{emulator.base_url('B')}/emulator"
    offered = await https.post(
        f"{control}/calls",
        json={"from": "0201112222", "call_variables": {"callVariable1": "42", "user.account": "A-7"}},
    )
    assert offered.status_code == 201
    dialog_id = offered.json()["dialog_id"]
    post = await session.wait_for(lambda n: n.event == "POST")
    assert post.text("data/dialogs/Dialog/id") == dialog_id
    assert (await https.post(f"{control}/calls/{dialog_id}/answer")).status_code == 200
    agents = {a["id"]: a for a in (await https.get(f"{control}/agents")).json()}
    assert agents["1001"]["state"] == "TALKING"
    assert agents["1002"]["state"] == "LOGOUT"
    dialogs = (await https.get(f"{control}/dialogs")).json()
    assert dialogs[0]["call_variables"] == {"callVariable1": "42", "user.account": "A-7"}
    assert (await https.post(f"{control}/calls/{dialog_id}/answer")).status_code == 409
    assert (await https.post(f"{control}/calls/{dialog_id}/hangup")).status_code == 200
    assert (await https.post(f"{control}/calls/{dialog_id}/hangup")).status_code == 409
    agents = {a["id"]: a for a in (await https.get(f"{control}/agents")).json()}
    assert agents["1001"]["state"] == "WORK_READY"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b'{"agent_id": 7, "from": "1"}', 400, "invalid_agent_id"),
        (b'{"call_variables": {}}', 400, "invalid_from"),
        (b'{"from": "1", "call_variables": {"callVariable1": 5}}', 400, "invalid_call_variables"),
        (b'{"from": "1", "call_variables": {"nope": "x"}}', 400, "invalid_input"),
        (b'{"from": "1", "agent_id": "4242"}', 400, "unknown_agent"),
        (b'{"from": "1", "agent_id": "1001"}', 409, "no_agent_ready"),
        (b'{"from": "1"}', 409, "no_agent_ready"),
    ],
)
async def test_offer_errors_are_json(
    emulator: EmulatorServer, https: httpx.AsyncClient, body: bytes, status: int, code: str
) -> None:
    response = await https.post(f"{emulator.base_url('A')}/emulator/calls", content=body)
    assert response.status_code == status
    assert response.json()["code"] == code


async def test_sides_timing_presence_and_forced_changes(
    emulator: EmulatorServer, https: httpx.AsyncClient
) -> None:
    control = f"{emulator.base_url('A')}/emulator"
    assert (await https.post(f"{control}/sides/C/down")).status_code == 404
    assert (await https.post(f"{control}/sides/B/sideways")).status_code == 404
    assert (await https.post(f"{control}/sides/B/down")).json() == {"side": "B", "in_service": False}
    assert not emulator.cluster.in_service("B")
    assert (await https.post(f"{control}/sides/B/up")).json() == {"side": "B", "in_service": True}
    timing = await https.put(f"{control}/timing", json={"presence_logout_delay_s": 0.01})
    assert timing.json()["presence_logout_delay_s"] == 0.01
    bad = await https.put(f"{control}/timing", json={"ring_timeout_s": -1})
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_timing"
    assert (await https.put(f"{control}/timing", json={"bogus": 1})).status_code == 400
    assert (await https.get(f"{control}/presence")).json() == {"A": {}, "B": {}}
    assert (await https.get(f"{control}/forced-changes")).json() == []
    assert (await https.post(f"{control}/agents/1001/nailed/hangup")).status_code == 409
    assert (await https.post(f"{control}/agents/4242/unlock")).status_code == 404


def _call_variables(update: Notification) -> dict[str, str]:
    return {
        str(variable.findtext("name")): variable.findtext("value") or ""
        for variable in update.update.iterfind("data/Dialog/mediaProperties/callvariables/CallVariable")
    }


async def test_call_data_from_outside_is_published_with_the_emulators_clock(
    emulator: EmulatorServer, https: httpx.AsyncClient
) -> None:
    session = RecordingSession()
    emulator.hub.attach("A", "1001", session)
    await _ready(emulator, https, session)
    control = f"{emulator.base_url('A')}/emulator"
    offered = await https.post(f"{control}/calls", json={"from": "0201112222", "agent_id": "1001"})
    dialog_id = offered.json()["dialog_id"]
    assert (await https.post(f"{control}/calls/{dialog_id}/answer")).status_code == 200

    before_ns = time.time_ns()
    answer = await https.post(
        f"{control}/calls/call-data",
        json={
            "dialog_ids": [dialog_id, "no-such-dialog"],
            "call_variables": {"callVariable2": "ivr-said-hello"},
            "stamp_variable": "callVariable10",
        },
    )
    after_ns = time.time_ns()
    assert answer.status_code == 200
    assert answer.json() == {"updated": [dialog_id]}, "an unknown dialog is skipped"
    update = await session.wait_for(lambda n: n.event == "PUT" and "ivr-said-hello" in n.xml)
    variables = _call_variables(update)
    assert variables["callVariable2"] == "ivr-said-hello"
    assert before_ns <= int(variables["callVariable10"]) <= after_ns

    # A bad name refuses the whole request: nothing changes, nothing is published.
    published = len(session.notifications)
    refused = await https.post(
        f"{control}/calls/call-data",
        json={"dialog_ids": [dialog_id], "call_variables": {"callVariable1": "x"}, "stamp_variable": "nope"},
    )
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_input")
    dialogs = (await https.get(f"{control}/dialogs")).json()
    assert "callVariable1" not in dialogs[0]["call_variables"]
    assert len(session.notifications) == published


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"dialog_ids": "d1"}', "invalid_dialog_ids"),
        (b'{"dialog_ids": [1]}', "invalid_dialog_ids"),
        (b'{"dialog_ids": [], "call_variables": []}', "invalid_call_variables"),
        (b'{"dialog_ids": [], "stamp_variable": 10}', "invalid_stamp_variable"),
        (b'{"dialog_ids": [], "spread_s": 1.5}', "invalid_spread"),
        (b'{"dialog_ids": [], "spread_s": true}', "invalid_spread"),
        (b'{"dialog_ids": [], "spread_s": "0.1"}', "invalid_spread"),
        (b'{"dialog_ids": [], "call_variables": {"callVariable11": "x"}}', "invalid_input"),
    ],
)
async def test_call_data_errors_are_json(
    emulator: EmulatorServer, https: httpx.AsyncClient, body: bytes, code: str
) -> None:
    response = await https.post(f"{emulator.base_url('A')}/emulator/calls/call-data", content=body)
    assert (response.status_code, response.json()["code"]) == (400, code)


async def test_call_data_updates_spread_over_time_are_stamped_when_each_is_published(
    emulator: EmulatorServer, https: httpx.AsyncClient
) -> None:
    session = RecordingSession()
    emulator.hub.attach("A", "1001", session)
    await _ready(emulator, https, session)
    control = f"{emulator.base_url('A')}/emulator"
    dialog_id = (await https.post(f"{control}/calls", json={"from": "1", "agent_id": "1001"})).json()[
        "dialog_id"
    ]
    assert (await https.post(f"{control}/calls/{dialog_id}/answer")).status_code == 200

    # The same dialog three times over 0.3 s: published at about 0, 0.1 and 0.2 s, each with its own stamp.
    answer = await https.post(
        f"{control}/calls/call-data",
        json={"dialog_ids": [dialog_id] * 3, "stamp_variable": "callVariable9", "spread_s": 0.3},
    )
    assert answer.json() == {"updated": [dialog_id] * 3}
    stamps: list[int] = []
    for _ in range(3):
        update = await session.wait_for(
            lambda n: "callVariable9" in n.xml and int(_call_variables(n)["callVariable9"]) not in stamps
        )
        stamps.append(int(_call_variables(update)["callVariable9"]))
    gaps_s = [(later - earlier) / 1e9 for earlier, later in itertools.pairwise(stamps)]
    assert all(0.05 <= gap <= 0.5 for gap in gaps_s), gaps_s
