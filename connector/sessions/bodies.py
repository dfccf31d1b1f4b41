"""The public API's JSON request bodies, validated (unknown keys, wrong types → 400 ``invalid_body``)."""

from __future__ import annotations

import json
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from connector.finesse.commands import DialogActionName
from connector.finesse.models import MobileAgentMode
from edge.tunnel.errors import BadRequest

MAX_BODY_BYTES = 64 * 1024


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=4096)


class MobileAgentBody(_Body):
    mode: MobileAgentMode
    dial_number: str = Field(min_length=1, max_length=64)


class SignInBody(_Body):
    extension: str = Field(min_length=1, max_length=64)
    device_id: str | None = Field(default=None, min_length=1, max_length=128)
    mobile_agent: MobileAgentBody | None = None
    # SecretStr: never shown by repr or in validation errors.
    finesse_password: SecretStr | None = None


class SignOutBody(_Body):
    reason_code_id: str | None = Field(default=None, min_length=1, max_length=64)


class StateBody(_Body):
    state: Literal["READY", "NOT_READY"]
    reason_code_id: str | None = Field(default=None, min_length=1, max_length=64)


class MakeCallBody(_Body):
    to: str = Field(min_length=1, max_length=64)


class DialogActionBody(_Body):
    action: DialogActionName
    to: str | None = Field(default=None, min_length=1, max_length=64)
    digits: str | None = Field(default=None, min_length=1, max_length=64)
    call_variables: dict[str, str] | None = Field(default=None, max_length=64)
    wrap_up_reason: str | None = Field(default=None, max_length=256)


BodyT = TypeVar("BodyT", bound=_Body)


def parse_body(model: type[BodyT], raw: bytes) -> BodyT:
    """Decode and validate a JSON body; an empty body counts as ``{}``."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest("invalid_body", f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError) as error:
        raise BadRequest("invalid_body", "the body is not valid JSON") from error
    if not isinstance(data, dict):
        raise BadRequest("invalid_body", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = [
            {"field": ".".join(str(part) for part in entry["loc"]), "problem": entry["msg"]}
            for entry in error.errors(include_input=False, include_url=False)
        ]
        fields = ", ".join(problem["field"] or "body" for problem in problems)
        raise BadRequest("invalid_body", f"invalid fields: {fields}", errors=problems) from error
