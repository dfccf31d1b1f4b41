"""The REST API over real TLS: reads, 202-then-notify, and every synchronous error path with Finesse's
shapes (401 HTML page or <ApiErrors>, lock, 403, 400, 404, 503)."""

from __future__ import annotations

import ssl
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import defusedxml.ElementTree as SafeET
import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from fingress.emulator.config import EmulatorConfig
from fingress.emulator.server import EmulatorServer
from tests.emulator.support import RecordingSession, fast_config
from tests.support.timing import seconds

ALICE = ("1001", "alice-pass")
LOGIN = b"<User><state>LOGIN</state><extension>1001001</extension></User>"


def api_error(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    assert response.headers["content-type"].startswith("application/xml")
    root: ET.Element = SafeET.fromstring(response.content)
    assert root.tag == "ApiErrors"
    return (
        root.findtext("ApiError/ErrorType"),
        root.findtext("ApiError/ErrorMessage"),
        root.findtext("ApiError/ErrorData"),
    )


def url(emulator: EmulatorServer, path: str, side: str = "A") -> str:
    return f"{emulator.base_url(side)}/finesse/api{path}"  # type: ignore[arg-type]


async def test_get_user_reason_codes_wrap_up_reasons_devices_and_system_info(
    emulator: EmulatorServer, https: httpx.AsyncClient
) -> None:
    user: ET.Element = SafeET.fromstring((await https.get(url(emulator, "/User/1001"), auth=ALICE)).content)
    assert user.tag == "User"
    assert user.findtext("state") == "LOGOUT"
    assert user.findtext("loginName") == "alice"
    codes_response = await https.get(url(emulator, "/User/1001/ReasonCodes?category=NOT_READY"), auth=ALICE)
    codes: ET.Element = SafeET.fromstring(codes_response.content)
    assert [c.findtext("label") for c in codes] == ["Break", "Lunch", "Meeting", "Training"]
    assert codes[1].findtext("uri") == "/finesse/api/ReasonCode/2"
    wrap: ET.Element = SafeET.fromstring(
        (await https.get(url(emulator, "/User/1001/WrapUpReasons"), auth=ALICE)).content
    )
    assert [r.findtext("label") for r in wrap] == ["Sale", "No sale", "Callback requested", "Complaint"]
    devices_response = await https.get(
        url(emulator, "/User/1006/Devices?extension=3000"), auth=("1006", "frank-pass")
    )
    devices: ET.Element = SafeET.fromstring(devices_response.content)
    assert [d.findtext("deviceId") for d in devices] == ["SEP00AA11BB2201", "SEP00AA11BB2202", "CSFAGENT1006"]
    info: ET.Element = SafeET.fromstring((await https.get(url(emulator, "/SystemInfo", "B"))).content)
    assert info.findtext("status") == "IN_SERVICE"
    assert info.findtext("xmppDomain") == "finesse-b.emulator.test"
    assert info.findtext("primaryNode/host") == "finesse-a.emulator.test"


async def test_dialogs_over_rest(emulator: EmulatorServer, https: httpx.AsyncClient) -> None:
    session = RecordingSession()
    emulator.hub.attach("B", "1001", session)
    assert (await https.put(url(emulator, "/User/1001"), auth=ALICE, content=LOGIN)).status_code == 202
    await session.wait_for(lambda n: n.text("data/user/state") == "NOT_READY")
    response = await https.post(
        url(emulator, "/User/1001/Dialogs"),
        auth=ALICE,
        headers={"requestId": "call-1"},
        content=b"<Dialog><requestedAction>MAKE_CALL</requestedAction><fromAddress>1001001</fromAddress>"
        b"<toAddress>0201112222</toAddress></Dialog>",
    )
    assert response.status_code == 202
    post = await session.wait_for(lambda n: n.request_id == "call-1")
    dialog_id = post.text("data/dialogs/Dialog/id")
    listing: ET.Element = SafeET.fromstring(
        (await https.get(url(emulator, "/User/1001/Dialogs"), auth=ALICE)).content
    )
    assert [d.findtext("id") for d in listing] == [dialog_id]
    one: ET.Element = SafeET.fromstring(
        (await https.get(url(emulator, f"/Dialog/{dialog_id}"), auth=ALICE)).content
    )
    assert one.tag == "Dialog"
    assert one.findtext("state") == "ACTIVE"
    response = await https.put(
        url(emulator, f"/Dialog/{dialog_id}"),
        auth=ALICE,
        headers={"requestId": "drop-1"},
        content=b"<Dialog><requestedAction>DROP</requestedAction><targetMediaAddress>1001001</targetMediaAddress></Dialog>",
    )
    assert response.status_code == 202
    assert (await session.wait_for(lambda n: n.request_id == "drop-1")).event == "DELETE"


@pytest.mark.parametrize("html", [True, False])
async def test_bad_credentials(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext, html: bool
) -> None:
    config = fast_config(behaviour={"unauthorized_html": html})
    async with (
        EmulatorServer(
            emulator_config=config,
            ssl_context=server_ssl_context,
            host="127.0.0.1",
            https_ports={"A": 0, "B": 0},
            xmpp_ports={"A": 0, "B": 0},
        ) as emulator,
        httpx.AsyncClient(verify=client_ssl_context, timeout=seconds(5)) as https,
    ):
        for auth in (("1001", "wrong"), ("nobody", "x")):
            response = await https.get(url(emulator, "/User/1001"), auth=auth)
            assert response.status_code == 401
            if html:
                assert response.headers["content-type"].startswith("text/html")
                assert "401" in response.text
            else:
                assert api_error(response)[0] == "Unauthorized"
        for headers in ({}, {"Authorization": "Basic !!!"}, {"Authorization": "Negotiate abc"}):
            assert (await https.get(url(emulator, "/User/1001"), headers=headers)).status_code == 401


async def test_five_bad_passwords_lock_the_account(
    emulator: EmulatorServer, https: httpx.AsyncClient
) -> None:
    for _ in range(5):
        assert (await https.get(url(emulator, "/User/1001"), auth=("1001", "nope"))).status_code == 401
    locked = await https.get(url(emulator, "/User/1001"), auth=ALICE)
    assert locked.status_code == 401
    assert api_error(locked) == ("Unauthorized", "The account is locked", "ACCOUNT_LOCKED")
    agents = (await https.get(f"{emulator.base_url('B')}/emulator/agents")).json()
    assert next(a for a in agents if a["id"] == "1001")["locked"] is True
    await https.post(f"{emulator.base_url('B')}/emulator/agents/1001/unlock")
    assert (await https.get(url(emulator, "/User/1001"), auth=ALICE)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/User/1002", b""),
        ("PUT", "/User/1002", b"<User><state>READY</state></User>"),
        ("GET", "/User/1002/Dialogs", b""),
        ("POST", "/User/1002/Dialogs", b"<Dialog><requestedAction>MAKE_CALL</requestedAction></Dialog>"),
        ("GET", "/User/1002/Devices?extension=3000", b""),
    ],
)
async def test_agents_touch_only_their_own_objects(
    emulator: EmulatorServer, https: httpx.AsyncClient, method: str, path: str, body: bytes
) -> None:
    response = await https.request(method, url(emulator, path), auth=ALICE, content=body)
    assert response.status_code == 403
    assert api_error(response)[0] == "Unauthorized"


async def test_a_supervisor_reads_a_team_member(emulator: EmulatorServer, https: httpx.AsyncClient) -> None:
    response = await https.get(url(emulator, "/User/1001"), auth=("1010", "judy-pass"))
    assert response.status_code == 200


async def test_missing_reason_code_and_unknown_objects(
    emulator: EmulatorServer, https: httpx.AsyncClient
) -> None:
    response = await https.put(
        url(emulator, "/User/1001"), auth=ALICE, content=b"<User><state>NOT_READY</state></User>"
    )
    assert response.status_code == 400
    assert api_error(response) == ("Parameter Missing", "reasonCodeId is required", "reasonCodeId")
    missing = await https.get(url(emulator, "/User/1001/ReasonCodes"), auth=ALICE)
    assert api_error(missing)[0] == "Parameter Missing"
    for path in ("/User/4242", "/Dialog/1", "/NoSuchThing"):
        response = await https.get(url(emulator, path), auth=ALICE)
        assert response.status_code == 404, path
        assert api_error(response)[0] == "Not Found"
    wrong_method = await https.delete(url(emulator, "/User/1001"), auth=ALICE)
    assert wrong_method.status_code == 400
    assert api_error(wrong_method)[0] == "Invalid Input"


async def test_a_side_out_of_service_answers_503(emulator: EmulatorServer, https: httpx.AsyncClient) -> None:
    session = RecordingSession()
    emulator.hub.attach("A", "1001", session)
    down = await https.post(f"{emulator.base_url('B')}/emulator/sides/A/down")
    assert down.json() == {"side": "A", "in_service": False}
    assert session.closed_with == "system-shutdown"
    assert session.notifications[-1].text("data/SystemInfo/status") == "OUT_OF_SERVICE"
    response = await https.put(url(emulator, "/User/1001"), auth=ALICE, content=LOGIN)
    assert response.status_code == 503
    assert api_error(response) == ("Service Unavailable", "SERVER_OUT_OF_SERVICE", "SERVER_OUT_OF_SERVICE")
    info: ET.Element = SafeET.fromstring((await https.get(url(emulator, "/SystemInfo"))).content)
    assert info.findtext("status") == "OUT_OF_SERVICE"
    assert (await https.put(url(emulator, "/User/1001", "B"), auth=ALICE, content=LOGIN)).status_code == 202
    await https.post(f"{emulator.base_url('A')}/emulator/sides/A/up")
    assert (await https.get(url(emulator, "/User/1001"), auth=ALICE)).status_code == 200


@pytest.fixture
def bearer_config(tmp_path: Path) -> EmulatorConfig:
    key_file = tmp_path / "hmac.key"
    key_file.write_bytes(b"an-emulator-test-key-of-32-bytes!")
    config = fast_config()
    return config.model_copy(
        update={
            "bearer": config.bearer.model_copy(
                update={"enabled": True, "hmac_key_file": key_file, "issuer": "idp"}
            )
        }
    )


async def test_bearer_tokens(
    bearer_config: EmulatorConfig, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    key = OctKey.import_key(b"an-emulator-test-key-of-32-bytes!")
    now = int(time.time())
    good = jwt.encode({"alg": "HS256"}, {"sub": "1001", "iss": "idp", "exp": now + 60}, key)
    expired = jwt.encode({"alg": "HS256"}, {"sub": "1001", "iss": "idp", "exp": now - 3600}, key)
    wrong_issuer = jwt.encode({"alg": "HS256"}, {"sub": "1001", "iss": "other", "exp": now + 60}, key)
    forged = jwt.encode(
        {"alg": "HS256"}, {"sub": "1001", "iss": "idp", "exp": now + 60}, OctKey.import_key(b"x" * 32)
    )
    async with (
        EmulatorServer(
            emulator_config=bearer_config,
            ssl_context=server_ssl_context,
            host="127.0.0.1",
            https_ports={"A": 0, "B": 0},
            xmpp_ports={"A": 0, "B": 0},
        ) as emulator,
        httpx.AsyncClient(verify=client_ssl_context, timeout=seconds(5)) as https,
    ):
        ok = await https.get(url(emulator, "/User/1001"), headers={"Authorization": f"Bearer {good}"})
        assert ok.status_code == 200
        for token in (expired, wrong_issuer, forged, "not.a.jwt"):
            response = await https.get(
                url(emulator, "/User/1001"), headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 401
        assert (await https.get(url(emulator, "/User/1001"), auth=ALICE)).status_code == 200
