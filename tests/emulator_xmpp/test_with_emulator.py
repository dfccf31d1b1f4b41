"""Done-when: an independent XMPP client (slixmpp, direct TLS) and a WebSocket client sign in to the real
emulator and receive the notifications of REST sign-in and state changes made with httpx."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import httpx
import pytest
from slixmpp import JID, ClientXMPP
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from fingress.emulator.config import EmulatorConfig
from fingress.emulator.server import EmulatorServer
from tests.emulator.support import RecordingSession, fast_config
from tests.emulator_xmpp import script
from tests.emulator_xmpp.clients import (
    NOTIFICATION,
    TlsStreamClient,
    WebSocketClient,
    assert_finesse_presence,
)
from tests.support.timing import seconds

AGENT, PASSWORD, EXTENSION = "1001", "alice-pass", "1001001"
USER_NODE = f"/finesse/api/User/{AGENT}"
EVENT_XPATH = "{jabber:client}message/{http://jabber.org/protocol/pubsub#event}event"
SASL = "{urn:ietf:params:xml:ns:xmpp-sasl}"


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return fast_config(timing={"presence_logout_delay_s": 0.05})


@pytest.fixture
async def emulator(
    emulator_config: EmulatorConfig, xmpp_server_ssl_context: ssl.SSLContext
) -> AsyncIterator[EmulatorServer]:
    # The certificate names the XMPP domains: slixmpp checks the domain of the JID, not the address.
    server = EmulatorServer(
        emulator_config=emulator_config,
        ssl_context=xmpp_server_ssl_context,
        host="127.0.0.1",
        https_ports={"A": 0, "B": 0},
        xmpp_ports={"A": 0, "B": 0},
    )
    async with server:
        yield server


@pytest.fixture
async def https(client_ssl_context: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=client_ssl_context, timeout=seconds(5)) as client:
        yield client


def user_state(message: Element) -> tuple[str, str | None]:
    """(node, the user's state) of a notification message."""
    node = next(message.iter("{http://jabber.org/protocol/pubsub#event}items")).get("node", "")
    update = SafeET.fromstring(next(message.iter(NOTIFICATION)).text or "")
    return node, update.findtext("data/user/state")


async def put_user(https: httpx.AsyncClient, emulator: EmulatorServer, body: str) -> None:
    response = await https.put(
        f"{emulator.base_url('A')}{USER_NODE}", auth=(AGENT, PASSWORD), content=body.encode()
    )
    assert response.status_code == 202, response.text


async def test_slixmpp_receives_rest_sign_in_and_state_change(
    emulator: EmulatorServer, https: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> None:
    domain = emulator.cluster.xmpp_domain("A")
    received: asyncio.Queue[Element] = asyncio.Queue()
    started = asyncio.Event()
    xmpp = ClientXMPP(
        f"{AGENT}@{domain}/slixmpp", PASSWORD, sasl_mech="PLAIN", ssl_context=client_ssl_context
    )
    xmpp.enable_direct_tls = True
    xmpp.enable_starttls = False
    xmpp.enable_plaintext = False
    xmpp.register_plugin("xep_0199")
    xmpp.register_handler(
        Callback(
            "finesse notifications", MatchXPath(EVENT_XPATH), lambda stanza: received.put_nowait(stanza.xml)
        )
    )
    xmpp.add_event_handler("session_start", lambda _event: started.set())
    xmpp.connect("127.0.0.1", emulator.xmpp_port("A"))
    try:
        async with asyncio.timeout(seconds(10)):
            await started.wait()
            xmpp.send_presence()
            # Stanzas are handled in order: once the ping is answered, the presence has been seen.
            await xmpp.plugin["xep_0199"].ping(jid=JID(domain), timeout=seconds(5))
            assert emulator.cluster.presence()["A"][AGENT] is True

            await put_user(
                https, emulator, f"<User><state>LOGIN</state><extension>{EXTENSION}</extension></User>"
            )
            assert user_state(await received.get()) == (USER_NODE, "NOT_READY")
            await put_user(https, emulator, "<User><state>READY</state></User>")
            assert user_state(await received.get()) == (USER_NODE, "READY")
    finally:
        async with asyncio.timeout(seconds(10)):
            await xmpp.disconnect()
    assert emulator.cluster.presence()["A"][AGENT] is False


async def test_websocket_client_receives_rest_state_changes(
    emulator: EmulatorServer, https: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> None:
    client = await WebSocketClient.connect(emulator.https_port("A"), client_ssl_context)
    await client.login(agent_id=AGENT, password=PASSWORD, domain=emulator.cluster.xmpp_domain("A"))
    await client.send(script.ping("p1", xmlns=script.WS_XMLNS))
    assert (pong := await client.next_element()) is not None
    assert pong.get("id") == "p1"
    await put_user(https, emulator, f"<User><state>LOGIN</state><extension>{EXTENSION}</extension></User>")
    message = await client.next_element()
    assert message is not None
    assert user_state(message) == (USER_NODE, "NOT_READY")
    await client.send(script.ws_close())
    assert await client.closing_condition() == ""
    await client.close()


async def test_losing_the_xmpp_connection_forces_the_agent_not_ready(
    emulator: EmulatorServer, https: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> None:
    observer = RecordingSession()
    emulator.hub.attach("A", AGENT, observer)
    domain = emulator.cluster.xmpp_domain("A")
    client = await TlsStreamClient.connect(emulator.xmpp_port("A"), client_ssl_context)
    await client.login(agent_id=AGENT, password=PASSWORD, domain=domain)
    await client.send(script.ping("p1"))
    assert (await client.next_stanza()).get("id") == "p1"
    await put_user(https, emulator, f"<User><state>LOGIN</state><extension>{EXTENSION}</extension></User>")
    await put_user(https, emulator, "<User><state>READY</state></User>")
    await observer.wait_for(lambda n: n.text("data/user/state") == "READY")
    client.abort()  # the app vanished: no unavailable presence, no stream close
    forced = await observer.wait_for(lambda n: n.text("data/user/ReasonCode/code") == "255", timeout_s=5)
    assert forced.text("data/user/state") == "NOT_READY"


async def test_failed_sasl_attempts_lock_the_account_like_rest(
    emulator: EmulatorServer, https: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> None:
    domain = emulator.cluster.xmpp_domain("A")
    failures = 0
    while failures < 5:
        client = await TlsStreamClient.connect(emulator.xmpp_port("A"), client_ssl_context)
        await client.send(script.stream_header(domain=domain))
        await client.next_stanza()
        while failures < 5:
            await client.send(script.auth(AGENT, "wrong"))
            answer = await client.next_stanza()
            assert answer.tag == f"{SASL}failure"
            failures += 1
            if failures % 3 == 0:  # the server ends a stream after three failures
                assert await client.closing_condition() == "policy-violation"
                break
        await client.close()
    client = await TlsStreamClient.connect(emulator.xmpp_port("A"), client_ssl_context)
    await client.send(script.stream_header(domain=domain))
    await client.next_stanza()
    await client.send(script.auth(AGENT, PASSWORD))
    assert (await client.next_stanza()).tag == f"{SASL}failure"  # locked, even with the right password
    response = await https.get(f"{emulator.base_url('A')}{USER_NODE}", auth=(AGENT, PASSWORD))
    assert response.status_code == 401


async def test_side_down_publishes_out_of_service_then_drops_and_refuses(
    emulator: EmulatorServer, https: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> None:
    domain = emulator.cluster.xmpp_domain("A")
    client = await TlsStreamClient.connect(emulator.xmpp_port("A"), client_ssl_context)
    await client.login(agent_id=AGENT, password=PASSWORD, domain=domain)
    await client.send(script.ping("p1"))
    assert (await client.next_stanza()).get("id") == "p1"

    response = await https.post(f"{emulator.base_url('A')}/emulator/sides/A/down")
    assert response.status_code == 200, response.text

    message = await client.next_stanza()
    assert next(message.iter("{http://jabber.org/protocol/pubsub#event}items")).get("node") == (
        "/finesse/api/SystemInfo"
    )
    update = SafeET.fromstring(next(message.iter(NOTIFICATION)).text or "")
    assert update.findtext("data/SystemInfo/status") == "OUT_OF_SERVICE"
    assert await client.closing_condition() == "system-shutdown"

    refused = await TlsStreamClient.connect(emulator.xmpp_port("A"), client_ssl_context)
    await refused.send(script.stream_header(domain))
    assert await refused.closing_condition() == "system-shutdown"


async def test_webapp_down_and_up_is_the_finesse_users_presence_on_that_side_only(
    emulator: EmulatorServer, https: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> None:
    domain_a, domain_b = emulator.cluster.xmpp_domain("A"), emulator.cluster.xmpp_domain("B")
    on_a = await WebSocketClient.connect(emulator.https_port("A"), client_ssl_context)
    await on_a.login(agent_id=AGENT, password=PASSWORD, domain=domain_a)  # reads the available presence
    on_b = await TlsStreamClient.connect(emulator.xmpp_port("B"), client_ssl_context)
    await on_b.login(agent_id="1002", password="bob-pass", domain=domain_b)

    response = await https.post(f"{emulator.base_url('A')}/emulator/sides/A/webapp/down")
    assert response.status_code == 200, response.text
    assert response.json() == {"side": "A", "webapp_up": False}
    down = await on_a.next_element()
    assert down is not None
    assert_finesse_presence(down, domain=domain_a, available=False)
    # Only the presence says so: REST and SystemInfo keep answering on side A.
    system_info = await https.get(f"{emulator.base_url('A')}/finesse/api/SystemInfo")
    assert system_info.status_code == 200
    assert SafeET.fromstring(system_info.text).findtext("status") == "IN_SERVICE"

    # A session opened while the webapp is down does not see the finesse user.
    late = await TlsStreamClient.connect(emulator.xmpp_port("A"), client_ssl_context)
    await late.login(agent_id="1003", password="carol-pass", domain=domain_a, webapp_up=False)
    await late.send(script.ping("late"))
    assert (await late.next_stanza()).get("id") == "late"

    response = await https.post(f"{emulator.base_url('B')}/emulator/sides/A/webapp/up")
    assert response.status_code == 200, response.text
    up = await on_a.next_element()
    assert up is not None
    assert_finesse_presence(up, domain=domain_a, available=True)
    assert_finesse_presence(await late.next_stanza(), domain=domain_a, available=True)
    # Side B heard nothing of side A's webapp: its next stanza is the answer to this ping.
    await on_b.send(script.ping("b1"))
    assert (await on_b.next_stanza()).get("id") == "b1"
    for client in (on_a, on_b, late):
        await client.close()


async def test_webapp_control_rejects_unknown_sides_and_directions(
    emulator: EmulatorServer, https: httpx.AsyncClient
) -> None:
    for path in ("C/webapp/down", "A/webapp/sideways"):
        response = await https.post(f"{emulator.base_url('A')}/emulator/sides/{path}")
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
