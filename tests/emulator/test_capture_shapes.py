"""The emulator's notifications have the element structure of real Finesse 12.5 captures (``captures/``,
MIT-licensed, see the LICENSE file there): tags and their order, recursively, values ignored. Driven over
REST (real uvicorn over TLS, real httpx)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import defusedxml.ElementTree as SafeET
import httpx
import pytest

from fingress.emulator.config import EmulatorConfig
from fingress.emulator.server import EmulatorServer
from tests.emulator.support import RecordingSession, fast_config
from tests.support.captures import CAPTURES_DIR

CAPTURES = CAPTURES_DIR  # the shared captures (tests/support/captures.py)

Shape = tuple[str, tuple["Shape", ...]]


def shape(element: ET.Element) -> Shape:
    return element.tag, tuple(shape(child) for child in element)


def captured_update(name: str) -> ET.Element:
    message = SafeET.fromstring((CAPTURES / name).read_bytes())
    text = message.findtext(".//{urn:xmpp:push:0}notification")
    assert text is not None
    update: ET.Element = SafeET.fromstring(text.strip())
    return update


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    # The captured lab had no reason codes configured: NOT_READY and LOGOUT went without one.
    return fast_config(behaviour={"require_reason_codes": False})


async def test_user_and_error_notifications_match_the_captures(
    emulator: EmulatorServer, https: httpx.AsyncClient
) -> None:
    session = RecordingSession()
    emulator.hub.attach("A", "1011", session)  # a supervisor of one team, like the captured user
    url = f"{emulator.base_url('A')}/finesse/api/User/1011"
    auth = ("1011", "mallory-pass")

    async def put(body: bytes, capture: str) -> None:
        before = len(session.notifications)
        response = await https.put(url, auth=auth, content=body)
        assert response.status_code == 202
        notification = await session.wait_for(lambda n: session.notifications.index(n) >= before)
        assert shape(notification.update) == shape(captured_update(capture)), capture

    await put(b"<User><state>READY</state></User>", "error-invalid-state.xml")
    await put(b"<User><state>LOGIN</state><extension>2830</extension></User>", "login.xml")
    await put(b"<User><state>READY</state></User>", "ready.xml")
    await put(b"<User><state>NOT_READY</state></User>", "not-ready.xml")
    await put(b"<User><state>LOGOUT</state></User>", "logout.xml")


async def test_invalid_device_matches_the_capture(emulator: EmulatorServer, https: httpx.AsyncClient) -> None:
    session = RecordingSession()
    emulator.hub.attach("A", "1006", session)
    response = await https.put(
        f"{emulator.base_url('A')}/finesse/api/User/1006",
        auth=("1006", "frank-pass"),
        content=b"<User><state>LOGIN</state><extension>3000</extension></User>",
    )
    assert response.status_code == 202
    notification = await session.wait_for(lambda n: True)
    assert shape(notification.update) == shape(captured_update("error-invalid-line.xml"))
