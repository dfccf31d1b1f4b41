"""The OpenAPI 3.1 document, generated from the route table and the pydantic models (JSON Schema 2020-12,
which OpenAPI 3.1 uses as is): request bodies from :mod:`edge.api.models`, answers and event frames from
:mod:`edge.api.responses`."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from edge.api.models import EventsTicket
from edge.api.responses import EVENT_FRAME_MODELS, EventType, Problem
from edge.api.routes import Answer, Handling, RouteSpec

_REF = "#/components/schemas/{model}"
# Errors any authenticated route can give, besides those it documents itself.
_COMMON_ERRORS = (
    Answer(400, "invalid_body, invalid_query or another malformed request", (Problem,), True),
    Answer(401, "invalid_token: missing, expired or unacceptable bearer token", (Problem,), True),
    Answer(429, "rate_limited (see `retry_after_s` and Retry-After)", (Problem,), True),
)
_EVENTS_DESCRIPTION = (
    "WebSocket upgrade. Close codes: see edge/events/close_codes.py. Every message is one JSON event frame "
    "`{seq, type, at, data}` (schema `EventFrame`, given as `x-websocket-message`); `type` is one of: "
    + ", ".join(f"`{event_type.value}`" for event_type in EventType)
    + ". The stream opens with a `snapshot` (or, with `?since=`, the frames missed since that seq); "
    "`heartbeat` (sent after `heartbeat_s` without any other frame, 25 s by default) repeats the last "
    "seq; every other frame advances `seq` by one. An app that sees no frame for twice that reconnects."
)


def build_openapi(routes: tuple[RouteSpec, ...], *, version: str) -> dict[str, Any]:
    models: list[type[BaseModel]] = [Problem, EventsTicket, *EVENT_FRAME_MODELS.values()]
    models += [route.body for route in routes if route.body is not None]
    models += [route.query for route in routes if route.query is not None]
    models += [model for route in routes for answer in route.answers for model in answer.models]
    unique = list(dict.fromkeys(models))
    _, top = models_json_schema([(model, "validation") for model in unique], ref_template=_REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["EventFrame"] = _event_frame_schema()
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fingress public API",
            "version": version,
            "description": "Cisco Finesse for mobile agents. Errors are RFC 9457 problem+json with a stable "
            "`code`. The event stream is a WebSocket at /api/v1/events.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _event_frame_schema() -> dict[str, Any]:
    mapping = {type_.value: _REF.format(model=model.__name__) for type_, model in EVENT_FRAME_MODELS.items()}
    return {
        "description": "One message of the event socket",
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }


def _operation(route: RouteSpec, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary}
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9A-Za-z_-]{1,64}$"},
        }
        for name in re.findall(r"\{(\w+)\}", route.path)
    ]
    if route.query is not None:
        query_schema = schemas[route.query.__name__]
        required = set(query_schema.get("required", ()))
        for name, schema in query_schema.get("properties", {}).items():
            parameters.append({"name": name, "in": "query", "required": name in required, "schema": schema})
    if route.handling is Handling.EVENTS:
        parameters += [
            {"name": "since", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
            {"name": "ticket", "in": "query", "required": False, "schema": {"type": "string"}},
        ]
        operation["description"] = _EVENTS_DESCRIPTION
        operation["x-websocket-message"] = {"$ref": _REF.format(model="EventFrame")}
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model=route.body.__name__)}}},
        }
    operation["responses"] = _responses(route)
    if route.authenticated:
        operation["security"] = [{"bearer": []}]
    return operation


def _responses(route: RouteSpec) -> dict[str, Any]:
    if route.handling is Handling.EVENTS:
        answers: dict[str, Any] = {"101": {"description": "Switching to WebSocket: event frames follow"}}
    elif route.handling is Handling.OPENAPI:
        answers = {"200": _content("This document", {"type": "object"}, problem=False)}
    else:
        answers = {}
    documented = list(route.answers)
    if route.authenticated:
        documented += [error for error in _COMMON_ERRORS if all(a.status != error.status for a in documented)]
    for answer in sorted(documented, key=lambda a: a.status):
        answers[str(answer.status)] = _content(answer.description, _schema_of(answer), problem=answer.problem)
    answers["default"] = _content("An error", {"$ref": _REF.format(model="Problem")}, problem=True)
    return answers


def _schema_of(answer: Answer) -> dict[str, Any]:
    refs = [{"$ref": _REF.format(model=model.__name__)} for model in answer.models]
    if len(refs) == 1:
        return refs[0]
    # anyOf, not oneOf: a specific problem (e.g. device_selection_required) is also a generic Problem.
    return {"anyOf": refs} if refs else {"type": "object"}


def _content(description: str, schema: dict[str, Any], *, problem: bool) -> dict[str, Any]:
    media = "application/problem+json" if problem else "application/json"
    return {"description": description, "content": {media: {"schema": schema}}}
