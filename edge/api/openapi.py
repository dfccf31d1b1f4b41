"""The OpenAPI 3.1 document, generated from the route table and the pydantic models (JSON Schema 2020-12,
which OpenAPI 3.1 uses as is)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from edge.api.models import EventsTicket, Problem
from edge.api.routes import Handling, RouteSpec

_REF = "#/components/schemas/{model}"


def build_openapi(routes: tuple[RouteSpec, ...], *, version: str) -> dict[str, Any]:
    models: list[type[BaseModel]] = [Problem, EventsTicket]
    models += [route.body for route in routes if route.body is not None]
    models += [route.query for route in routes if route.query is not None]
    unique = list(dict.fromkeys(models))
    _, top = models_json_schema([(model, "validation") for model in unique], ref_template=_REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
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
        operation["description"] = "WebSocket upgrade. Close codes: see edge/events/close_codes.py."
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model=route.body.__name__)}}},
        }
    operation["responses"] = {
        "200": _success(route),
        "default": {
            "description": "An error",
            "content": {"application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}},
        },
    }
    if route.authenticated:
        operation["security"] = [{"bearer": []}]
    return operation


def _success(route: RouteSpec) -> dict[str, Any]:
    if route.handling is Handling.TICKET:
        schema: dict[str, Any] = {"$ref": _REF.format(model="EventsTicket")}
    elif route.handling is Handling.EVENTS:
        return {"description": "Switching to WebSocket (101)"}
    else:
        schema = {"type": "object"}
    return {"description": "The confirmed result", "content": {"application/json": {"schema": schema}}}
