"""A first end-to-end check: sign in over REST, see the notification on the Hub."""

from __future__ import annotations

import httpx

from fingress.emulator.server import EmulatorServer
from tests.emulator.support import RecordingSession


async def test_sign_in_over_rest_publishes_the_user(
    emulator: EmulatorServer, https: httpx.AsyncClient
) -> None:
    session = RecordingSession()
    emulator.hub.attach("A", "1001", session)
    response = await https.put(
        f"{emulator.base_url('A')}/finesse/api/User/1001",
        auth=("1001", "alice-pass"),
        headers={"requestId": "r-1"},
        content=b"<User><state>LOGIN</state><extension>1001001</extension></User>",
    )
    assert response.status_code == 202
    assert response.content == b""
    notification = await session.wait_for(lambda n: n.text("data/user/state") == "NOT_READY")
    assert notification.request_id == "r-1"
    assert notification.text("data/user/extension") == "1001001"
