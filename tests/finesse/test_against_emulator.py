"""The REST client against the real emulator over TLS, with every notification the emulator publishes
parsed by :func:`parse_update` (the emulator renders, we parse: a round trip between two implementations).

Notifications are observed on the emulator's Hub seam, not over XMPP: the XMPP client is tested elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from connector.finesse.client import FinesseClient, build_http_client
from connector.finesse.commands import (
    DialogAction,
    DialogActionName,
    MakeCall,
    RequestedState,
    SignIn,
    StateChange,
)
from connector.finesse.credentials import BearerCredentials, PasswordCredentials
from connector.finesse.errors import AccountLocked, SideOutOfService
from connector.finesse.ids import AgentId, DeviceId, DialogId, ReasonCodeId, RequestId
from connector.finesse.models import (
    AgentState,
    ApiErrorList,
    CallVariable,
    Dialog,
    DialogList,
    MobileAgent,
    MobileAgentMode,
    Participant,
    ReasonCodeCategory,
    SystemInfo,
    Update,
    UpdateEvent,
    User,
)
from connector.finesse.observer import CallStats
from connector.finesse.parse import parse_update
from edge.tunnel.errors import BadRequest, Forbidden, NotFound, Unauthorized
from fingress.emulator.config import EmulatorConfig
from fingress.emulator.server import EmulatorServer
from tests.emulator.support import fast_config
from tests.support.timing import seconds

ALICE = PasswordCredentials(AgentId("1001"), "alice-pass")
BOB = PasswordCredentials(AgentId("1002"), "bob-pass")
CAROL = PasswordCredentials(AgentId("1003"), "carol-pass")
FRANK = PasswordCredentials(AgentId("1006"), "frank-pass")
HEIDI = PasswordCredentials(AgentId("1008"), "heidi-pass")


class UpdateRecorder:
    """An XMPP session on the emulator's Hub that parses each notification as the connector will."""

    def __init__(self) -> None:
        self.updates: list[Update | Exception] = []
        self._arrived = asyncio.Event()

    def deliver(self, node: str, item_id: str, notification_xml: str) -> None:
        try:
            self.updates.append(parse_update(notification_xml))
        except Exception as exc:  # surfaced in the test, not inside the emulator
            self.updates.append(exc)
        self._arrived.set()

    def close(self, condition: str) -> None:
        pass

    async def wait_for(self, predicate: Callable[[Update], bool]) -> Update:
        async with asyncio.timeout(seconds(3)):
            while True:
                for update in self.updates:
                    if isinstance(update, Exception):
                        raise update
                    if predicate(update):
                        return update
                self._arrived.clear()
                await self._arrived.wait()

    async def outcome(self, request_id: RequestId) -> Update:
        return await self.wait_for(lambda update: update.request_id == request_id)


def _own(dialog: Dialog, extension: str) -> Participant:
    participant = dialog.participant(extension)
    assert participant is not None, dialog.participants
    return participant


@dataclass
class Finesse:
    server: EmulatorServer
    a: FinesseClient
    b: FinesseClient
    control: httpx.AsyncClient
    stats: CallStats

    def watch(self, agent_id: str) -> UpdateRecorder:
        recorder = UpdateRecorder()
        self.server.hub.attach("A", agent_id, recorder)
        return recorder

    async def control_post(self, path: str, json: object = None) -> httpx.Response:
        response = await self.control.post(self.server.base_url("A") + path, json=json)
        assert response.status_code < 300, response.text
        return response


@contextlib.asynccontextmanager
async def running_finesse(
    emulator_config: EmulatorConfig, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> AsyncIterator[Finesse]:
    server = EmulatorServer(
        emulator_config=emulator_config,
        ssl_context=server_ssl_context,
        host="127.0.0.1",
        https_ports={"A": 0, "B": 0},
        xmpp_ports={"A": 0, "B": 0},
    )
    stats = CallStats()
    # The HTTP client closes first: an idle keep-alive connection would hold up the server's shutdown.
    async with server, build_http_client(ssl_context=client_ssl_context, timeout_s=seconds(5)) as http:
        yield Finesse(
            server=server,
            a=FinesseClient(http=http, base_url=server.base_url("A"), side="A", observer=stats),
            b=FinesseClient(http=http, base_url=server.base_url("B"), side="B", observer=stats),
            control=http,
            stats=stats,
        )


@pytest.fixture
async def finesse(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> AsyncIterator[Finesse]:
    async with running_finesse(fast_config(), server_ssl_context, client_ssl_context) as running:
        yield running


async def test_sign_in_states_reason_codes_and_sign_out(finesse: Finesse) -> None:
    alice = finesse.watch("1001")
    async with asyncio.timeout(seconds(10)):
        signed_in = await alice.outcome((await finesse.a.sign_in(ALICE, SignIn("1001001"))).request_id)
        assert isinstance(signed_in.data, User)
        assert (signed_in.data.state, signed_in.data.extension) == (AgentState.NOT_READY, "1001001")
        assert signed_in.event is UpdateEvent.PUT
        assert signed_in.source == "/finesse/api/User/1001"

        user = await finesse.a.get_user(ALICE)
        assert (user.login_id, user.first_name, user.state) == ("1001", "Alice", AgentState.NOT_READY)
        assert user.settings.wrap_up_on_incoming == "OPTIONAL"

        ready = await alice.outcome(
            (await finesse.a.change_state(ALICE, StateChange(RequestedState.READY))).request_id
        )
        assert isinstance(ready.data, User)
        assert ready.data.state is AgentState.READY

        codes = await finesse.a.get_reason_codes(ALICE, ReasonCodeCategory.NOT_READY)
        lunch = next(code for code in codes if code.label == "Lunch")
        assert (lunch.id, lunch.code, lunch.category) == ("2", 2, "NOT_READY")
        logout_codes = await finesse.a.get_reason_codes(ALICE, ReasonCodeCategory.LOGOUT)
        assert "End of shift" in [code.label for code in logout_codes]
        assert await finesse.a.get_wrap_up_reasons(ALICE)

        not_ready = await alice.outcome(
            (await finesse.a.change_state(ALICE, StateChange(RequestedState.NOT_READY, lunch.id))).request_id
        )
        assert isinstance(not_ready.data, User)
        assert (not_ready.data.state, not_ready.data.reason_code_id) == (AgentState.NOT_READY, "2")

        with pytest.raises(BadRequest) as missing:
            await finesse.a.change_state(ALICE, StateChange(RequestedState.NOT_READY))
        assert missing.value.code == "finesse_bad_request"
        assert missing.value.extra["error_type"] == "Parameter Missing"

        signed_out = await alice.outcome(
            (await finesse.a.sign_out(ALICE, reason_code_id=ReasonCodeId("11"))).request_id
        )
        assert isinstance(signed_out.data, User)
        assert (signed_out.data.state, signed_out.data.extension) == (AgentState.LOGOUT, "")


async def test_invalid_state_arrives_as_an_async_error(finesse: Finesse) -> None:
    carol = finesse.watch("1003")
    async with asyncio.timeout(seconds(10)):
        accepted = await finesse.a.change_state(CAROL, StateChange(RequestedState.READY))
        outcome = await carol.outcome(accepted.request_id)
    assert isinstance(outcome.data, ApiErrorList)
    assert outcome.data.errors[0].error_type == "Invalid State"


async def test_mobile_agent_sign_in_and_mode_not_allowed(finesse: Finesse) -> None:
    alice, carol = finesse.watch("1001"), finesse.watch("1003")
    mobile = MobileAgent(MobileAgentMode.CALL_BY_CALL, "5550100")
    async with asyncio.timeout(seconds(10)):
        signed_in = await alice.outcome(
            (await finesse.a.sign_in(ALICE, SignIn("1001001", mobile))).request_id
        )
        refused = await carol.outcome((await finesse.a.sign_in(CAROL, SignIn("1003003", mobile))).request_id)
    assert isinstance(signed_in.data, User)
    assert signed_in.data.mobile_agent == mobile
    assert isinstance(refused.data, ApiErrorList)
    assert refused.data.errors[0].error_type == "Mode Not Allowed"


async def test_shared_line_devices(finesse: Finesse) -> None:
    frank = finesse.watch("1006")
    async with asyncio.timeout(seconds(10)):
        devices = await finesse.a.get_devices(FRANK, extension="3000")
        assert len(devices) == 3
        refused = await frank.outcome((await finesse.a.sign_in(FRANK, SignIn("3000"))).request_id)
        assert isinstance(refused.data, ApiErrorList)
        assert refused.data.errors[0].error_type == "Invalid Device"
        chosen = DeviceId(devices[1].device_id)
        signed_in = await frank.outcome(
            (await finesse.a.sign_in(FRANK, SignIn("3000", active_device_id=chosen))).request_id
        )
    assert isinstance(signed_in.data, User)
    assert signed_in.data.active_device_id == chosen


async def test_call_flow_with_variables_and_every_simple_action(finesse: Finesse) -> None:
    bob = finesse.watch("1002")
    async with asyncio.timeout(seconds(10)):
        await bob.outcome((await finesse.a.sign_in(BOB, SignIn("1002002"))).request_id)
        await bob.outcome((await finesse.a.change_state(BOB, StateChange(RequestedState.READY))).request_id)
        offered = await finesse.control_post(
            "/emulator/calls",
            {
                "agent_id": "1002",
                "from": "5551234",
                "call_variables": {"callVariable1": "order <42>", "user.tier": "gold"},
            },
        )
        dialog_id = DialogId(offered.json()["dialog_id"])
        posted = await bob.wait_for(lambda u: u.event is UpdateEvent.POST and isinstance(u.data, DialogList))
        assert isinstance(posted.data, DialogList)
        (dialog,) = posted.data.dialogs
        assert dialog.id == dialog_id
        assert dialog.media_properties.variables() == {"callVariable1": "order <42>", "user.tier": "gold"}
        own = _own(dialog, "1002002")
        assert (own.state, own.actions) == ("ALERTING", ("ANSWER",))

        async def act(command: DialogAction) -> Dialog:
            accepted = await finesse.a.dialog_action(BOB, dialog_id, command)
            update = await bob.outcome(accepted.request_id)
            assert isinstance(update.data, Dialog), update.data
            return update.data

        answered = await act(DialogAction.simple(DialogActionName.ANSWER, extension="1002002"))
        assert answered.state == "ACTIVE"
        assert "HOLD" in _own(answered, "1002002").actions
        updated = await act(
            DialogAction.update_call_data(
                extension="1002002", call_variables=(CallVariable("callVariable2", "vip & co"),)
            )
        )
        assert updated.media_properties.variables()["callVariable2"] == "vip & co"
        await act(DialogAction.send_dtmf(extension="1002002", digits="12#"))
        held = await act(DialogAction.simple(DialogActionName.HOLD, extension="1002002"))
        assert _own(held, "1002002").state == "HELD"
        await act(DialogAction.simple(DialogActionName.RETRIEVE, extension="1002002"))

        (listed,) = await finesse.a.get_dialogs(BOB)
        assert listed.id == dialog_id
        assert (await finesse.a.get_dialog(BOB, dialog_id)).id == dialog_id
        with pytest.raises(Forbidden) as foreign:
            await finesse.a.get_dialog(ALICE, dialog_id)
        assert foreign.value.code == "finesse_forbidden"
        with pytest.raises(NotFound):
            await finesse.a.get_dialog(BOB, DialogId("no-such-dialog"))

        dropped = await finesse.a.dialog_action(
            BOB, dialog_id, DialogAction.simple(DialogActionName.DROP, extension="1002002")
        )
        ended = await bob.outcome(dropped.request_id)
    assert isinstance(ended.data, Dialog)
    assert ended.event in (UpdateEvent.PUT, UpdateEvent.DELETE)


async def test_make_call(finesse: Finesse) -> None:
    alice = finesse.watch("1001")
    async with asyncio.timeout(seconds(10)):
        await alice.outcome((await finesse.a.sign_in(ALICE, SignIn("1001001"))).request_id)
        accepted = await finesse.a.make_call(ALICE, MakeCall("1001001", "5550199"))
        outcome = await alice.outcome(accepted.request_id)
    assert isinstance(outcome.data, DialogList | Dialog)
    dialogs = outcome.data.dialogs if isinstance(outcome.data, DialogList) else (outcome.data,)
    assert dialogs[0].to_address == "5550199"


async def test_bad_password_then_lock(finesse: Finesse) -> None:
    wrong = PasswordCredentials(AgentId("1008"), "not-heidis")
    async with asyncio.timeout(seconds(10)):
        for _ in range(5):
            with pytest.raises(Unauthorized) as caught:
                await finesse.a.get_user(wrong)
            assert caught.value.code == "finesse_auth_failed"
        with pytest.raises(AccountLocked) as locked:
            await finesse.a.get_user(HEIDI)
    assert locked.value.code == "finesse_account_locked"
    assert locked.value.status == 503
    assert finesse.stats.errors == {"finesse_auth_failed": 5, "finesse_account_locked": 1}


async def test_side_down_is_out_of_service_and_side_b_serves(finesse: Finesse) -> None:
    async with asyncio.timeout(seconds(10)):
        assert (await finesse.a.get_system_info(ALICE)).in_service
        await finesse.control_post("/emulator/sides/A/down")
        with pytest.raises(SideOutOfService) as caught:
            await finesse.a.get_user(ALICE)
        info = await finesse.a.get_system_info(ALICE)
        user = await finesse.b.get_user(ALICE)
    assert caught.value.code == "finesse_out_of_service"
    assert "A" in caught.value.detail
    assert isinstance(info, SystemInfo)
    assert not info.in_service
    assert user.login_id == "1001"


async def test_bearer_mode(
    tmp_path: Path, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    secret = b"a-fingress-finesse-test-key-32-bytes"
    (tmp_path / "hmac.key").write_bytes(secret)
    base = fast_config()
    bearer = base.bearer.model_copy(update={"enabled": True, "hmac_key_file": tmp_path / "hmac.key"})
    config = base.model_copy(update={"bearer": bearer})
    now = int(time.time())
    token = jwt.encode({"alg": "HS256"}, {"sub": "1001", "exp": now + 60}, OctKey.import_key(secret))
    forged = jwt.encode({"alg": "HS256"}, {"sub": "1001", "exp": now + 60}, OctKey.import_key(b"x" * 32))
    async with running_finesse(config, server_ssl_context, client_ssl_context) as finesse:
        alice = finesse.watch("1001")
        async with asyncio.timeout(seconds(10)):
            credentials = BearerCredentials(AgentId("1001"), token)
            accepted = await finesse.a.sign_in(credentials, SignIn("1001001"))
            signed_in = await alice.outcome(accepted.request_id)
            assert isinstance(signed_in.data, User)
            assert (await finesse.a.get_user(credentials)).state is AgentState.NOT_READY
            with pytest.raises(Unauthorized) as caught:
                await finesse.a.get_user(BearerCredentials(AgentId("1001"), forged))
    assert caught.value.code == "finesse_auth_failed"
    assert token not in str(caught.value.to_wire())


async def test_invalid_input_carries_finesse_words(finesse: Finesse) -> None:
    async with asyncio.timeout(seconds(10)):
        with pytest.raises(BadRequest) as caught:
            await finesse.a.get_devices(FRANK, extension="not-digits")
    assert caught.value.code == "finesse_bad_request"
    assert caught.value.extra["error_type"] == "Invalid Input"
    assert caught.value.extra["error_data"] == "extension"
