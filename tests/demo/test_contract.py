"""The public API's documented response models hold for what the real connector answers: every body of a
full agent walkthrough (and a device-selection 409) and every event frame on the socket validates against
edge/api/responses.py, and the served OpenAPI document names those models per route."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import BaseModel
from websockets.asyncio.client import connect

from edge.api import responses
from edge.api.models import EventsTicket
from fingress.demo.system import DemoSystem
from fingress.demo.walkthrough import ring_body, walkthrough_steps
from tests.demo.test_walkthrough import EventReader, agent_entry, get_token, of_type, send
from tests.support.timing import seconds

pytestmark = pytest.mark.asyncio(loop_scope="module")

M = TypeVar("M", bound=BaseModel)


def body_of(response: httpx.Response, status: int, model: type[M]) -> M:
    assert response.status_code == status, response.text
    return model.model_validate(response.json())


async def api_client(
    manifest: dict[str, Any], trust: ssl.SSLContext, agent: dict[str, Any]
) -> httpx.AsyncClient:
    async with httpx.AsyncClient(verify=trust, timeout=seconds(10)) as idp:
        token = await get_token(idp, manifest, agent)
    return httpx.AsyncClient(
        base_url=manifest["edge"]["public"],
        headers={"Authorization": f"Bearer {token}"},
        verify=trust,
        timeout=seconds(10),
    )


async def test_every_body_and_event_of_a_call_matches_the_models(
    demo: DemoSystem, manifest: dict[str, Any], trust: ssl.SSLContext
) -> None:
    agent = agent_entry(manifest, "1002")
    steps = walkthrough_steps(agent)
    api = await api_client(manifest, trust, agent)
    async with (
        api,
        httpx.AsyncClient(
            base_url=manifest["emulator"]["A"]["rest"], verify=trust, timeout=seconds(10)
        ) as emu,
    ):
        signed_in = body_of(await send(api, steps["sign_in"]), 200, responses.Agent)
        assert signed_in.signed_in
        assert signed_in.extension == agent["extension"]
        assert body_of(await api.get("/api/v1/agent"), 200, responses.Agent).id == agent["id"]
        for category in ("NOT_READY", "LOGOUT"):
            listed = await api.get("/api/v1/reason-codes", params={"category": category})
            codes = body_of(listed, 200, responses.ReasonCodeList).reason_codes
            assert codes
            assert {code.category for code in codes} == {category}
        reasons = body_of(await api.get("/api/v1/wrap-up-reasons"), 200, responses.WrapUpReasonList)
        assert reasons.wrap_up_reasons
        assert body_of(await send(api, steps["ready"]), 200, responses.Agent).state == "READY"

        ticket = body_of(await api.post("/api/v1/events/ticket"), 201, EventsTicket)
        events_url = manifest["edge"]["public"].replace("https://", "wss://") + "/api/v1/events"
        async with asyncio.timeout(seconds(10)):
            events = EventReader(await connect(f"{events_url}?ticket={ticket.ticket}", ssl=trust))
        await events.wait_for(lambda frame: frame["type"] == "snapshot")

        rung = await emu.post("/emulator/calls", json=ring_body(agent["id"]))
        assert rung.status_code == 201, rung.text
        dialog_id = rung.json()["dialog_id"]
        await events.wait_for(of_type("dialog.created", id=dialog_id))
        listed_dialogs = body_of(await api.get("/api/v1/dialogs"), 200, responses.DialogList).dialogs
        assert [dialog.id for dialog in listed_dialogs] == [dialog_id]
        assert "ANSWER" in listed_dialogs[0].actions

        answered = body_of(await send(api, steps["answer"], dialog_id=dialog_id), 200, responses.Dialog)
        assert answered.own_state == "ACTIVE"
        dropped = body_of(await send(api, steps["drop"], dialog_id=dialog_id), 200, responses.Dialog)
        assert dropped.own_state == "WRAP_UP"
        wrapped = body_of(await send(api, steps["wrap_up"], dialog_id=dialog_id), 200, responses.Dialog)
        assert wrapped.wrap_up_reason == "Sale"
        assert body_of(await send(api, steps["not_ready"]), 200, responses.Agent).state == "NOT_READY"
        signed_out = body_of(await send(api, steps["sign_out"]), 200, responses.Agent)
        assert (signed_out.state, signed_out.signed_in) == ("LOGOUT", False)
        await events.wait_for(lambda frame: frame["type"] == "session.ended")
        await events.wait_closed()

        gone = await api.get("/api/v1/agent")
        assert body_of(gone, 404, responses.Problem).code == "no_session"
        assert gone.headers["content-type"] == "application/problem+json"

    seen = {responses.EVENT_FRAME.validate_python(frame).type for frame in events.frames}
    assert seen >= {"snapshot", "agent.updated", "dialog.created", "dialog.updated", "session.ended"}


async def test_a_shared_line_sign_in_is_a_documented_409_then_a_device_choice(
    demo: DemoSystem, manifest: dict[str, Any], trust: ssl.SSLContext
) -> None:
    agent = next(entry for entry in manifest["agents"] if entry["devices"])
    api = await api_client(manifest, trust, agent)
    async with api:
        sign_in = walkthrough_steps(agent)["sign_in"]
        refused = body_of(await send(api, sign_in), 409, responses.DeviceSelectionProblem)
        assert [device.device_id for device in refused.devices] == agent["devices"]
        chosen = {**(sign_in.body or {}), "device_id": refused.devices[0].device_id}
        signed_in = body_of(await api.post(sign_in.path, json=chosen), 200, responses.Agent)
        assert signed_in.device_id == refused.devices[0].device_id
        steps = walkthrough_steps(agent)
        assert body_of(await send(api, steps["not_ready"]), 200, responses.Agent).state == "NOT_READY"
        assert body_of(await send(api, steps["sign_out"]), 200, responses.Agent).state == "LOGOUT"
        unreasoned = await api.request("DELETE", "/api/v1/agent/session")
        assert body_of(unreasoned, 404, responses.Problem).code == "no_session"


async def test_the_served_document_names_a_response_schema_per_route(
    manifest: dict[str, Any], trust: ssl.SSLContext
) -> None:
    async with httpx.AsyncClient(verify=trust, timeout=seconds(10)) as client:
        served = await client.get(manifest["edge"]["public"] + "/api/v1/openapi.json")
    assert served.status_code == 200, served.text
    document = served.json()
    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path in ("/api/v1/events", "/api/v1/openapi.json"):
                continue
            success = next(status for status in operation["responses"] if status.startswith("2"))
            schema = operation["responses"][success]["content"]["application/json"]["schema"]
            refs = [schema["$ref"]] if "$ref" in schema else [ref["$ref"] for ref in schema["anyOf"]]
            for ref in refs:
                assert ref.removeprefix("#/components/schemas/") in schemas, (method, path, ref)
