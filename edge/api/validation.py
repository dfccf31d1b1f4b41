"""Turns a request's raw body and query into the normalized JSON and query string that are forwarded,
or a 400/415 problem that says what is wrong without echoing the (possibly secret) input."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode

from pydantic import BaseModel, SecretStr, ValidationError

from edge.api.routes import RouteSpec
from edge.problems import UnsupportedMediaType
from edge.tunnel.errors import BadRequest

_MAX_REPORTED_ERRORS = 20


def validated_body(route: RouteSpec, raw: bytes, content_type: str | None) -> tuple[BaseModel | None, bytes]:
    """The validated body model (or None) and the JSON bytes to forward."""
    if not raw.strip():
        if route.body is not None and route.body_required:
            raise BadRequest("missing_body", "This request needs a JSON body.")
        return None, b""
    if route.body is None:
        raise BadRequest("unexpected_body", "This request takes no body.")
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("unsupported_media_type", "The body must be application/json.")
    try:
        model = route.body.model_validate_json(raw)
    except ValidationError as error:
        raise _invalid("invalid_body", "The JSON body is not valid for this request.", error) from None
    return model, json.dumps(_revealed(model.model_dump(mode="python", exclude_none=True))).encode()


def validated_query(route: RouteSpec, query_string: bytes) -> str:
    """The normalized query string to forward: only the parameters the route's model accepts."""
    try:
        pairs = parse_qs(query_string.decode("latin-1"), keep_blank_values=True, max_num_fields=16)
    except ValueError:
        raise BadRequest("invalid_query", "Too many query parameters.") from None
    if route.query is None:
        if pairs:
            raise BadRequest("unexpected_query", "This request takes no query parameters.")
        return ""
    if any(len(values) > 1 for values in pairs.values()):
        raise BadRequest("invalid_query", "Each query parameter may appear once.")
    try:
        model = route.query.model_validate_strings({name: values[0] for name, values in pairs.items()})
    except ValidationError as error:
        raise _invalid(
            "invalid_query", "The query parameters are not valid for this request.", error
        ) from None
    return urlencode(_revealed(model.model_dump(mode="python", exclude_none=True)))


def _revealed(value: Any) -> Any:
    """Plain JSON values, with secrets revealed: this is the one place a secret leaves its wrapper, to
    go into the tunnel frame and nowhere else."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {key: _revealed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_revealed(item) for item in value]
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        return value.value
    return value


def _invalid(code: str, detail: str, error: ValidationError) -> BadRequest:
    # include_input=False: the offending value may be a password.
    problems = [
        {"field": ".".join(str(part) for part in problem["loc"]) or "(body)", "message": problem["msg"]}
        for problem in error.errors(include_input=False, include_url=False)[:_MAX_REPORTED_ERRORS]
    ]
    return BadRequest(code, detail, errors=problems)
