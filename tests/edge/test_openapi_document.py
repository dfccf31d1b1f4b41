"""The generated OpenAPI document is structurally valid OpenAPI 3.1 and documents every route's answers
with the response models; the models reject a renamed key in what the connector's views produce."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from connector.finesse.ids import AgentId, DeviceId, DialogId, ReasonCodeId, TeamId
from connector.finesse.models import (
    AgentState,
    CallVariable,
    Device,
    Dialog,
    MediaProperties,
    Participant,
    ReasonCode,
    User,
)
from connector.sessions.views import agent_view, device_view, dialog_view
from edge.api import responses
from edge.api.openapi import build_openapi
from edge.api.routes import ROUTES, Handling
from edge.problems import problem_body

_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_STATUS = re.compile(r"^[1-5][0-9]{2}$")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_openapi(ROUTES, version="test")


def refs_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs_in(item)


def test_the_document_is_structurally_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert isinstance(document["info"]["title"], str)
    assert isinstance(document["info"]["version"], str)
    schemes = document["components"]["securitySchemes"]
    operation_ids: list[str] = []
    for path, item in document["paths"].items():
        assert path.startswith("/")
        for method, operation in item.items():
            assert method in _METHODS
            operation_ids.append(operation["operationId"])
            declared = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", path))
            for parameter in operation.get("parameters", ()):
                assert parameter["in"] in {"path", "query", "header", "cookie"}
                assert "schema" in parameter
            assert operation["responses"]
            for status, response in operation["responses"].items():
                assert status == "default" or _STATUS.fullmatch(status), (path, status)
                assert isinstance(response["description"], str)
                for media in response.get("content", {}).values():
                    assert "schema" in media
            for requirement in operation.get("security", ()):
                assert set(requirement) <= set(schemes)
    assert len(operation_ids) == len(set(operation_ids))


def test_every_ref_resolves_to_a_component(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    refs = set(refs_in(document))
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_each_forwarded_route_documents_its_success_and_problems(document: dict[str, Any]) -> None:
    for route in ROUTES:
        if route.handling is not Handling.FORWARDED:
            continue
        answers = document["paths"][route.path][route.method.lower()]["responses"]
        assert "200" in answers, route.key
        assert "$ref" in str(answers["200"]["content"]["application/json"]["schema"]), route.key
        for status in ("400", "401", "429", "default"):
            assert "application/problem+json" in answers[status]["content"], (route.key, status)
        if route.audit_action is not None:
            pending = answers["202"]["content"]["application/json"]["schema"]
            assert pending == {"$ref": "#/components/schemas/Pending"}, route.key
    sign_in = document["paths"]["/api/v1/agent/session"]["post"]["responses"]["409"]
    assert {"$ref": "#/components/schemas/DeviceSelectionProblem"} in (
        sign_in["content"]["application/problem+json"]["schema"]["anyOf"]
    )


def test_the_event_socket_documents_the_frame_and_every_type(document: dict[str, Any]) -> None:
    events = document["paths"]["/api/v1/events"]["get"]
    assert events["x-websocket-message"] == {"$ref": "#/components/schemas/EventFrame"}
    mapping = document["components"]["schemas"]["EventFrame"]["discriminator"]["mapping"]
    assert set(mapping) == {event_type.value for event_type in responses.EventType}
    for event_type in responses.EventType:
        assert f"`{event_type.value}`" in events["description"]


# --- the models against what the connector's views produce ----------------------------------------------

_USER = User(
    login_id=AgentId("1001"),
    login_name="alice",
    extension="2001",
    state=AgentState.NOT_READY,
    state_change_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    reason_code_id=ReasonCodeId("12"),
    reason_code=ReasonCode(id=ReasonCodeId("12"), category="NOT_READY", code=7, label="Break"),
    roles=("Agent",),
    team_id=TeamId("5005"),
    team_name="Sales",
    active_device_id=DeviceId("SEP1"),
    wrap_up_timer_s=60,
)
_DIALOG = Dialog(
    id=DialogId("16777217"),
    from_address="5550100",
    to_address="2001",
    state="ACTIVE",
    media_properties=MediaProperties(
        call_variables=(CallVariable("callVariable1", "x"), CallVariable("user.order", "42"))
    ),
    participants=(Participant("2001", "AGENT_DEVICE", "ACTIVE", actions=("HOLD", "DROP")),),
)
_VIEWS: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (responses.Agent, agent_view(_USER)),
    (responses.Agent, agent_view(User(login_id=AgentId("1002")))),
    (responses.Dialog, dialog_view(_DIALOG, "2001")),
    (responses.Dialog, dialog_view(_DIALOG, "")),
    (
        responses.DeviceSelectionProblem,
        problem_body(
            409, "device_selection_required", "pick one", devices=[device_view(Device(DeviceId("S")))]
        ),
    ),
]


@pytest.mark.parametrize(("model", "view"), _VIEWS)
def test_the_connector_views_validate(model: type[BaseModel], view: dict[str, Any]) -> None:
    model.model_validate(view)


@given(st.sampled_from(_VIEWS), st.data())
def test_a_renamed_or_dropped_key_fails(
    case: tuple[type[BaseModel], dict[str, Any]], data: st.DataObject
) -> None:
    model, view = case
    required = [key for key in view if model.model_fields[key].is_required()]
    key = data.draw(st.sampled_from(required))
    renamed = {(f"{key}_renamed" if name == key else name): value for name, value in view.items()}
    with pytest.raises(ValidationError):
        model.model_validate(renamed)
    dropped = {name: value for name, value in view.items() if name != key}
    with pytest.raises(ValidationError):
        model.model_validate(dropped)


@given(st.dictionaries(st.text(max_size=12), st.none() | st.integers() | st.text(max_size=8), max_size=6))
def test_hostile_frames_are_rejected_cleanly(frame: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        responses.EVENT_FRAME.validate_python(frame)


def test_every_event_type_has_a_frame_model() -> None:
    frame = {"seq": 3, "type": "session.ended", "at": "2026-01-02T03:04:05.000Z", "data": {"reason": "x"}}
    assert isinstance(responses.EVENT_FRAME.validate_python(frame), responses.SessionEndedFrame)
    assert set(responses.EVENT_FRAME_MODELS) == set(responses.EventType)
    with pytest.raises(ValidationError):
        responses.EVENT_FRAME.validate_python({**frame, "type": "session.over"})
