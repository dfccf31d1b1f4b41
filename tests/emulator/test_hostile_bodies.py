"""Hostile request bodies get a Finesse-shaped 4xx, never a 5xx or a traceback: malformed XML, DTDs and
entity bombs, external entities, oversized bodies, unknown or repeated elements — over real TLS, plus
Hypothesis throwing random bodies at the parsers and at PUT User / PUT Dialog."""

from __future__ import annotations

import json
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import defusedxml.ElementTree as SafeET
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.tunnel.errors import BadRequest
from fingress.emulator.bodies import parse_dialog_request, parse_user_update
from fingress.emulator.server import EmulatorServer
from tests.emulator.support import BackgroundEmulator, fast_config
from tests.support.timing import seconds

ALICE = ("1001", "alice-pass")

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE User [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    b"<User><state>&c;</state></User>"
)
HOSTILE_USER_BODIES = {
    "malformed": b"<User><state>READY</User>",
    "not xml": b"state=READY",
    "dtd": b"<!DOCTYPE User [<!ELEMENT User ANY>]><User><state>READY</state></User>",
    "entity bomb": BILLION_LAUGHS,
    "external entity": b'<!DOCTYPE User [<!ENTITY x SYSTEM "file:///etc/passwd">]><User><state>&x;</state></User>',
    "unknown element": b"<User><state>READY</state><admin>true</admin></User>",
    "namespaced element": b'<User xmlns:x="urn:x"><x:state>READY</x:state></User>',
    "repeated element": b"<User><state>READY</state><state>LOGOUT</state></User>",
    "element inside text": b"<User><state><b>READY</b></state></User>",
    "wrong root": b"<Dialog><requestedAction>DROP</requestedAction></Dialog>",
    "deep nesting": b"<User>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</User>",
    "bad encoding": b'<?xml version="1.0" encoding="klingon"?><User/>',
    "invalid utf-8": b"<User><state>\xff\xfe</state></User>",
    "oversized": b"<User><state>" + b"R" * 70_000 + b"</state></User>",
    "long text": b"<User><state>" + b"R" * 1000 + b"</state></User>",
    "empty": b"",
}


def _finesse_error(response: httpx.Response) -> ET.Element:
    root: ET.Element = SafeET.fromstring(response.content)
    assert root.tag == "ApiErrors"
    assert root.findtext("ApiError/ErrorType") in ("Invalid Input", "Parameter Missing")
    return root


@pytest.mark.parametrize("name", sorted(HOSTILE_USER_BODIES))
async def test_hostile_user_bodies_get_a_finesse_400(
    emulator: EmulatorServer, https: httpx.AsyncClient, name: str
) -> None:
    response = await https.put(
        f"{emulator.base_url('A')}/finesse/api/User/1001", auth=ALICE, content=HOSTILE_USER_BODIES[name]
    )
    assert response.status_code == 400, response.text
    _finesse_error(response)


async def test_hostile_dialog_bodies_get_a_finesse_400(
    emulator: EmulatorServer, https: httpx.AsyncClient
) -> None:
    await https.put(
        f"{emulator.base_url('A')}/finesse/api/User/1001",
        auth=ALICE,
        content=b"<User><state>LOGIN</state><extension>1001001</extension></User>",
    )
    bodies = [
        b"<Dialog><requestedAction>MAKE_CALL</requestedAction><fromAddress>1001001</fromAddress>"
        b"<toAddress>1</toAddress><extra/></Dialog>",
        b"<Dialog><requestedAction>MAKE_CALL</requestedAction><mediaProperties><callvariables>"
        + b"<CallVariable><name>callVariable1</name><value>v</value></CallVariable>" * 65
        + b"</callvariables></mediaProperties></Dialog>",
        b"<Dialog><actionParams><Param/></actionParams></Dialog>",
        b"<Dialog><actionParams><ActionParam><value>1</value></ActionParam></actionParams></Dialog>",
        BILLION_LAUGHS.replace(b"User", b"Dialog"),
    ]
    for body in bodies:
        response = await https.post(
            f"{emulator.base_url('A')}/finesse/api/User/1001/Dialogs", auth=ALICE, content=body
        )
        assert response.status_code == 400, body[:80]
        _finesse_error(response)


async def test_an_oversized_body_streamed_without_a_length_is_refused(
    emulator: EmulatorServer, https: httpx.AsyncClient
) -> None:
    async def chunks() -> object:
        for _ in range(100):
            yield b"<User>" + b" " * 1000

    response = await https.put(
        f"{emulator.base_url('A')}/finesse/api/User/1001",
        auth=ALICE,
        content=chunks(),  # type: ignore[arg-type]
    )
    assert response.status_code == 400
    _finesse_error(response)


XMLISH = st.recursive(
    st.sampled_from(["state", "extension", "User", "Dialog", "mobileAgent", "mode", "CallVariable", "x"]).map(
        lambda tag: f"<{tag}/>"
    )
    | st.text(max_size=20),
    lambda children: st.tuples(
        st.sampled_from(
            [
                "User",
                "Dialog",
                "state",
                "extension",
                "reasonCodeId",
                "mobileAgent",
                "mediaProperties",
                "callvariables",
                "CallVariable",
                "name",
                "value",
                "actionParams",
                "ActionParam",
                "requestedAction",
            ]
        ),
        st.lists(children, max_size=4),
    ).map(lambda pair: f"<{pair[0]}>{''.join(pair[1])}</{pair[0]}>"),
    max_leaves=12,
)
BODIES = st.binary(max_size=300) | XMLISH.map(str.encode) | st.text(max_size=300).map(str.encode)


@given(body=BODIES)
@settings(max_examples=400, deadline=None)
def test_the_parsers_raise_only_finesse_errors(body: bytes) -> None:
    for parse in (parse_user_update, parse_dialog_request):
        error_types = set()
        try:
            parse(body)
        except BadRequest as error:
            error_types.add(error.extra["error_type"])
        assert error_types <= {"Invalid Input", "Parameter Missing"}


@pytest.fixture(scope="module")
def background_emulator(server_ssl_context: ssl.SSLContext) -> Iterator[EmulatorServer]:
    with BackgroundEmulator(emulator_config=fast_config(), ssl_context=server_ssl_context) as server:
        yield server


@given(body=BODIES, dialog=st.booleans())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_bodies_never_get_a_5xx(
    background_emulator: EmulatorServer, client_ssl_context: ssl.SSLContext, body: bytes, dialog: bool
) -> None:
    path = "/finesse/api/Dialog/16777217" if dialog else "/finesse/api/User/1001"
    with httpx.Client(verify=client_ssl_context, timeout=seconds(5)) as client:
        response = client.put(f"{background_emulator.base_url('A')}{path}", auth=ALICE, content=body)
    assert response.status_code < 500
    if response.status_code >= 400:
        _finesse_error_any(response)


def _finesse_error_any(response: httpx.Response) -> None:
    root: ET.Element = SafeET.fromstring(response.content)
    assert root.tag == "ApiErrors"
    assert root.findtext("ApiError/ErrorType")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=10,
)
CONTROL_BODIES = (
    st.binary(max_size=200)
    | JSON_VALUES.map(lambda value: json.dumps(value).encode())
    | st.fixed_dictionaries(
        {},
        optional={
            "agent_id": JSON_VALUES,
            "from": JSON_VALUES,
            "call_variables": JSON_VALUES,
            "ring_timeout_s": JSON_VALUES,
            "dialog_ids": JSON_VALUES,
            "stamp_variable": JSON_VALUES,
        },
    ).map(lambda value: json.dumps(value).encode())
)


@given(body=CONTROL_BODIES, target=st.sampled_from(["timing", "calls", "calls/call-data"]))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_control_bodies_never_get_a_5xx(
    background_emulator: EmulatorServer, client_ssl_context: ssl.SSLContext, body: bytes, target: str
) -> None:
    timing = target == "timing"
    base = background_emulator.base_url("B")
    with httpx.Client(verify=client_ssl_context, timeout=seconds(5)) as client:
        if timing:
            response = client.put(f"{base}/emulator/timing", content=body)
        else:
            response = client.post(f"{base}/emulator/{target}", content=body)
        assert response.status_code < 500
        if response.status_code >= 400:
            assert isinstance(response.json()["code"], str)
        if timing and response.status_code == 200:
            client.post(f"{base}/emulator/reset")  # keep the shared emulator's timings sane
