"""The REST client against a canned Finesse on real uvicorn over TLS: what it sends, what it makes of
the answers, and how transport failures surface."""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from pathlib import Path

import httpx
import pytest
import trustme

from connector.finesse.client import Accepted, FinesseClient, build_http_client
from connector.finesse.commands import (
    DialogAction,
    DialogActionName,
    MakeCall,
    RequestedState,
    SignIn,
    StateChange,
)
from connector.finesse.credentials import BearerCredentials, PasswordCredentials
from connector.finesse.errors import FinesseProtocolError, SideUnreachable
from connector.finesse.ids import AgentId, DialogId, ReasonCodeId, RequestId
from connector.finesse.models import AgentState, ReasonCodeCategory
from connector.finesse.observer import CallStats
from edge.tunnel.errors import ApiError, BadRequest, Unauthorized, UpstreamError, UpstreamTimeout
from tests.finesse import documents
from tests.finesse.canned import Canned, CannedFinesse
from tests.support.timing import seconds

SECRET = "pa$$w0rd-never-logged"
ANN = PasswordCredentials(AgentId("1001"), SECRET)


async def test_get_user_sends_basic_auth_and_parses(
    canned: CannedFinesse, canned_client: FinesseClient
) -> None:
    canned.answer("GET", "/finesse/api/User/1001", Canned(200, documents.USER_REST))
    async with asyncio.timeout(seconds(5)):
        user = await canned_client.get_user(ANN)
    assert user.state is AgentState.TALKING
    (received,) = canned.received
    assert (
        received.headers["authorization"] == "Basic " + base64.b64encode(f"1001:{SECRET}".encode()).decode()
    )
    assert received.headers["accept"] == "application/xml"
    assert "requestid" not in received.headers


async def test_bearer_credentials(canned: CannedFinesse, canned_client: FinesseClient) -> None:
    canned.answer("GET", "/finesse/api/User/1001/Dialogs", Canned(200, documents.DIALOGS_REST))
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMDAxIn0.c2ln"
    async with asyncio.timeout(seconds(5)):
        dialogs = await canned_client.get_dialogs(BearerCredentials(AgentId("1001"), token))
    assert [dialog.id for dialog in dialogs] == ["16817", "99"]
    assert canned.received[0].headers["authorization"] == f"Bearer {token}"


async def test_asynchronous_calls_send_a_request_id_and_the_rendered_body(
    canned: CannedFinesse, canned_client: FinesseClient
) -> None:
    canned.answer("PUT", "/finesse/api/User/1001", Canned(202))
    canned.answer("POST", "/finesse/api/User/1001/Dialogs", Canned(202))
    canned.answer("PUT", "/finesse/api/Dialog/16817", Canned(202))
    async with asyncio.timeout(seconds(5)):
        results = [
            await canned_client.sign_in(ANN, SignIn("1001001")),
            await canned_client.change_state(ANN, StateChange(RequestedState.NOT_READY, ReasonCodeId("16"))),
            await canned_client.sign_out(ANN, reason_code_id=ReasonCodeId("3")),
            await canned_client.make_call(ANN, MakeCall("1001001", "5551234")),
            await canned_client.dialog_action(
                ANN, DialogId("16817"), DialogAction.simple(DialogActionName.ANSWER, extension="1001001")
            ),
        ]
    sent = [(r.method, r.path, r.body) for r in canned.received]
    assert sent == [
        ("PUT", "/finesse/api/User/1001", b"<User><state>LOGIN</state><extension>1001001</extension></User>"),
        (
            "PUT",
            "/finesse/api/User/1001",
            b"<User><state>NOT_READY</state><reasonCodeId>16</reasonCodeId></User>",
        ),
        (
            "PUT",
            "/finesse/api/User/1001",
            b"<User><state>LOGOUT</state><reasonCodeId>3</reasonCodeId></User>",
        ),
        ("POST", "/finesse/api/User/1001/Dialogs", documents_make_call()),
        ("PUT", "/finesse/api/Dialog/16817", documents_answer()),
    ]
    request_ids = [r.headers["requestid"] for r in canned.received]
    assert [result.request_id for result in results] == request_ids
    assert len(set(request_ids)) == len(request_ids)
    assert all(r.headers["content-type"] == "application/xml" for r in canned.received)


def documents_make_call() -> bytes:
    return (
        b"<Dialog><requestedAction>MAKE_CALL</requestedAction><fromAddress>1001001</fromAddress>"
        b"<toAddress>5551234</toAddress></Dialog>"
    )


def documents_answer() -> bytes:
    return (
        b"<Dialog><requestedAction>ANSWER</requestedAction><targetMediaAddress>1001001</targetMediaAddress>"
        b"</Dialog>"
    )


async def test_caller_chosen_request_id_is_sent(canned: CannedFinesse, canned_client: FinesseClient) -> None:
    canned.answer("PUT", "/finesse/api/User/1001", Canned(202))
    async with asyncio.timeout(seconds(5)):
        accepted = await canned_client.change_state(
            ANN, StateChange(RequestedState.READY), request_id=RequestId("mine-1")
        )
    assert accepted == Accepted(RequestId("mine-1"))
    assert canned.received[0].headers["requestid"] == "mine-1"


async def test_lists_and_system_info(canned: CannedFinesse, http: httpx.AsyncClient) -> None:
    client = FinesseClient(http=http, base_url=canned.base_url + "/", devices_path="/custom/{agent_id}/devs")
    canned.answer("GET", "/finesse/api/User/1001/ReasonCodes", Canned(200, documents.REASON_CODES_REST))
    canned.answer("GET", "/finesse/api/User/1001/WrapUpReasons", Canned(200, documents.WRAP_UP_REASONS_REST))
    canned.answer("GET", "/custom/1001/devs", Canned(200, documents.DEVICES_REST))
    canned.answer("GET", "/finesse/api/Dialog/16817", Canned(200, documents.DIALOG_REST))
    canned.answer("GET", "/finesse/api/SystemInfo", Canned(200, documents.SYSTEM_INFO_REST))
    async with asyncio.timeout(seconds(5)):
        codes = await client.get_reason_codes(ANN, ReasonCodeCategory.LOGOUT)
        reasons = await client.get_wrap_up_reasons(ANN)
        devices = await client.get_devices(ANN)
        await client.get_devices(ANN, extension="1001 001&x")
        dialog = await client.get_dialog(ANN, DialogId("16817"))
        info = await client.get_system_info()
    assert [code.id for code in codes] == ["16", "17"]
    assert canned.received[0].query == "category=LOGOUT"
    assert [reason.label for reason in reasons] == ["Resolved", "Call back"]
    assert [device.device_id for device in devices] == ["SEP0011", "CSFANN"]
    assert [(r.path, r.query) for r in canned.received[2:4]] == [
        ("/custom/1001/devs", ""),
        ("/custom/1001/devs", "extension=1001%20001%26x"),
    ]
    assert dialog.id == "16817"
    assert info.in_service
    assert "authorization" not in canned.received[-1].headers


async def test_ids_cannot_change_the_path(canned: CannedFinesse, canned_client: FinesseClient) -> None:
    with pytest.raises(ApiError):  # the canned Finesse has no answer for it
        async with asyncio.timeout(seconds(5)):
            await canned_client.get_dialog(ANN, DialogId("../User/2002"))
    assert canned.received[0].raw_path == b"/finesse/api/Dialog/..%2FUser%2F2002"
    for bad in ("", ".", ".."):
        with pytest.raises(BadRequest):
            await canned_client.get_dialog(ANN, DialogId(bad))
    assert len(canned.received) == 1


async def test_bad_password_html_page_is_auth_failed_and_never_retried(
    canned: CannedFinesse, canned_client: FinesseClient, stats: CallStats
) -> None:
    canned.answer("PUT", "/finesse/api/User/1001", Canned(401, documents.BAD_CREDENTIALS_HTML, "text/html"))
    with pytest.raises(Unauthorized) as caught:
        async with asyncio.timeout(seconds(5)):
            await canned_client.sign_in(ANN, SignIn("1001001"))
    assert caught.value.code == "finesse_auth_failed"
    assert len(canned.received) == 1
    assert stats.errors == {"finesse_auth_failed": 1}
    assert stats.last is not None
    assert (stats.last.operation, stats.last.status, stats.last.side) == ("sign_in", 401, "A")
    for text in (str(caught.value), repr(caught.value), str(caught.value.to_wire()), repr(stats.last)):
        assert SECRET not in text


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            501,
            b"<apierrors><APIERROR><errortype>Not Implemented</errortype></APIERROR></apierrors>",
            "finesse_not_implemented",
        ),
        (503, documents.api_errors("Service Unavailable", "SERVER_OUT_OF_SERVICE"), "finesse_out_of_service"),
        (401, documents.api_errors("Unauthorized", "Account locked"), "finesse_account_locked"),
        (200, b"<html>not finesse</html>", "finesse_bad_response"),
        (
            200,
            b'<!DOCTYPE User [<!ENTITY a "b">]><User><loginId>&a;</loginId></User>',
            "finesse_bad_response",
        ),
        (200, b"<User><loginId>1</loginId>", "finesse_bad_response"),
        (200, b"<User><loginId>1</loginId>" + b" " * 2_000_000 + b"</User>", "finesse_bad_response"),
    ],
)
async def test_refusals_and_bad_answers(
    canned: CannedFinesse, canned_client: FinesseClient, stats: CallStats, status: int, body: bytes, code: str
) -> None:
    canned.answer("GET", "/finesse/api/User/1001", Canned(status, body))
    with pytest.raises(ApiError) as caught:
        async with asyncio.timeout(seconds(5)):
            await canned_client.get_user(ANN)
    assert caught.value.code == code
    assert stats.errors == {code: 1}
    if code == "finesse_not_implemented":
        assert caught.value.extra["error_type"] == "Not Implemented"
    if code == "finesse_bad_response":
        assert isinstance(caught.value.__cause__, FinesseProtocolError)
        assert caught.value.extra["reason"].startswith("finesse_xml_")


async def test_read_timeout(canned: CannedFinesse, client_ssl_context: ssl.SSLContext) -> None:
    canned.answer("GET", "/finesse/api/User/1001", Canned(200, documents.USER_REST, hang=True))
    async with build_http_client(ssl_context=client_ssl_context, timeout_s=0.2) as http:
        client = FinesseClient(http=http, base_url=canned.base_url)
        with pytest.raises(UpstreamTimeout) as caught:
            async with asyncio.timeout(seconds(5)):
                await client.get_user(ANN)
    assert caught.value.code == "finesse_timeout"
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


async def test_refused_connection_is_side_unreachable(http: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on ``port`` any more.
    client = FinesseClient(http=http, base_url=f"https://127.0.0.1:{port}", side="B")
    with pytest.raises(SideUnreachable) as caught:
        async with asyncio.timeout(seconds(5)):
            await client.get_system_info()
    assert caught.value.code == "finesse_unreachable"
    assert caught.value.status == 503
    assert "B" in caught.value.detail
    assert "127.0.0.1" not in caught.value.detail
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_untrusted_certificate_is_side_unreachable_tls(canned: CannedFinesse) -> None:
    stranger = ssl.create_default_context()
    trustme.CA().configure_trust(stranger)
    async with build_http_client(ssl_context=stranger) as http:
        client = FinesseClient(http=http, base_url=canned.base_url)
        with pytest.raises(SideUnreachable) as caught:
            async with asyncio.timeout(seconds(5)):
                await client.get_system_info()
    assert caught.value.code == "finesse_tls_failed"
    assert canned.received == []


async def test_default_context_verifies_against_the_given_ca_file(
    canned: CannedFinesse, ca_file: Path
) -> None:
    canned.answer("GET", "/finesse/api/SystemInfo", Canned(200, documents.SYSTEM_INFO_REST))
    async with build_http_client(ca_file=ca_file) as http:
        client = FinesseClient(http=http, base_url=canned.base_url)
        async with asyncio.timeout(seconds(5)):
            assert (await client.get_system_info()).in_service


def test_secrets_stay_out_of_reprs() -> None:
    token = "tok.en.value"
    bearer = BearerCredentials(AgentId("1001"), token)
    for text in (repr(ANN), str(ANN), repr(bearer), str(bearer)):
        assert SECRET not in text
        assert token not in text
        assert "1001" in text


@pytest.mark.parametrize(
    "build",
    [
        lambda: PasswordCredentials(AgentId("10:01"), "x"),
        lambda: PasswordCredentials(AgentId(""), "x"),
        lambda: PasswordCredentials(AgentId("1001"), ""),
        lambda: BearerCredentials(AgentId("1001"), "bad token\r\nX-Evil: 1"),
        lambda: BearerCredentials(AgentId("1001"), ""),
    ],
)
def test_unusable_credentials_are_refused(build: object) -> None:
    assert callable(build)
    with pytest.raises(BadRequest) as caught:
        build()
    assert caught.value.code == "invalid_finesse_credentials"
    assert SECRET not in str(caught.value)


def test_client_configuration_is_checked() -> None:
    http = httpx.AsyncClient()
    with pytest.raises(ValueError, match="base_url"):
        FinesseClient(http=http, base_url="ftp://finesse")
    with pytest.raises(ValueError, match="devices_path"):
        FinesseClient(http=http, base_url="https://finesse", devices_path="/devices")
    assert "finesse" not in repr(FinesseClient(http=http, base_url="https://finesse:8445", side="B"))


async def test_stats_observer_sees_every_call(
    canned: CannedFinesse, canned_client: FinesseClient, stats: CallStats
) -> None:
    canned.answer("GET", "/finesse/api/SystemInfo", Canned(200, documents.SYSTEM_INFO_REST))
    async with asyncio.timeout(seconds(5)):
        for _ in range(3):
            await canned_client.get_system_info()
        with pytest.raises(UpstreamError):
            await canned_client.get_user(ANN)  # no canned answer: 599
    assert stats.calls == {"get_system_info": 3, "get_user": 1}
    assert stats.errors == {"finesse_server_error": 1}
    assert stats.total_duration_s > 0


async def test_a_cancelled_call_is_reported_as_cancelled(
    canned: CannedFinesse, canned_client: FinesseClient, stats: CallStats
) -> None:
    canned.answer("GET", "/finesse/api/User/1001", Canned(200, documents.USER_REST, hang=True))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds(0.2)):
            await canned_client.get_user(ANN)
    assert stats.last is not None
    assert (stats.last.error_code, stats.last.status) == ("cancelled", None)
