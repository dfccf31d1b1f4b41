"""MAKE_CALL over the real REST listener: 202, then a notification per step (INITIATING, INITIATED,
ALERTING), and the control API answering for the outside number (which does not answer by itself here)."""

from __future__ import annotations

import httpx
import pytest

from fingress.emulator.config import EmulatorConfig
from fingress.emulator.server import EmulatorServer
from tests.emulator.support import Notification, RecordingSession, fast_config

AUTH = ("1001", "alice-pass")


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return fast_config(
        timing={
            "async_processing_delay_s": 0.001,
            "make_call_initiated_delay_s": 0.01,
            "make_call_alerting_delay_s": 0.01,
        },
        behaviour={"outside_party_answers": False},
    )


def _dialog_state(notification: Notification) -> str | None:
    dialog = notification.update.find(".//Dialog")
    return dialog.findtext("state") if dialog is not None else None


async def test_make_call_steps_are_notified_and_the_control_api_answers(
    emulator: EmulatorServer, https: httpx.AsyncClient
) -> None:
    base = emulator.base_url("A")
    session = RecordingSession()
    emulator.hub.attach("A", "1001", session)
    response = await https.put(
        f"{base}/finesse/api/User/1001",
        auth=AUTH,
        content=b"<User><state>LOGIN</state><extension>1001001</extension></User>",
    )
    assert response.status_code == 202, response.text
    await session.wait_for(lambda n: n.text("data/user/state") == "NOT_READY")

    response = await https.post(
        f"{base}/finesse/api/User/1001/Dialogs",
        auth=AUTH,
        headers={"requestId": "mc-1"},
        content=b"<Dialog><requestedAction>MAKE_CALL</requestedAction><fromAddress>1001001</fromAddress>"
        b"<toAddress>0612345678</toAddress></Dialog>",
    )
    assert response.status_code == 202, response.text
    posted = await session.wait_for(lambda n: n.request_id == "mc-1")
    assert (posted.event, _dialog_state(posted)) == ("POST", "INITIATING")
    await session.wait_for(lambda n: _dialog_state(n) == "ALERTING")
    assert [_dialog_state(n) for n in session.dialog_events()] == ["INITIATING", "INITIATED", "ALERTING"]
    dialog_id = posted.text("data/dialogs/Dialog/id")

    answered = await https.post(f"{base}/emulator/calls/{dialog_id}/answer")
    assert answered.status_code == 200, answered.text
    active = await session.wait_for(lambda n: _dialog_state(n) == "ACTIVE")
    assert active.event == "PUT"
    listed = (await https.get(f"{base}/emulator/dialogs")).json()
    assert [(d["id"], d["state"]) for d in listed] == [(dialog_id, "ACTIVE")]
    again = await https.post(f"{base}/emulator/calls/{dialog_id}/answer")
    assert (again.status_code, again.json()["code"]) == (409, "not_alerting")
