"""The public API v1 routes the connector answers, matched without a framework (sans-I/O).

:func:`match_route` turns a method and path into a :class:`Route`: the operation's name and its path
parameters. Unknown paths are 404 ``route_not_found``; a known path with another method is 400
``method_not_allowed`` (the error tree has no 405), naming the methods that are allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge.tunnel.errors import BadRequest, NotFound

PREFIX = "/api/v1"
# Finesse dialog ids are numeric; accept a sane superset, refuse anything that could change a URL.
_DIALOG_ID = re.compile(r"(?!\.+$)[A-Za-z0-9._-]{1,64}")

_FIXED: dict[str, dict[str, str]] = {
    "/agent": {"GET": "get_agent"},
    "/agent/session": {"POST": "sign_in", "DELETE": "sign_out"},
    "/agent/state": {"PUT": "change_state"},
    "/reason-codes": {"GET": "reason_codes"},
    "/wrap-up-reasons": {"GET": "wrap_up_reasons"},
    "/dialogs": {"GET": "list_dialogs", "POST": "make_call"},
}


@dataclass(frozen=True, slots=True)
class Route:
    operation: str
    dialog_id: str | None = None


def match_route(method: str, path: str) -> Route:
    """The operation for ``method path``; raises ``NotFound`` / ``BadRequest`` for anything else."""
    if not path.startswith(PREFIX + "/"):
        raise NotFound("route_not_found", "no such API route")
    rest = path[len(PREFIX) :].rstrip("/") or "/"
    method = method.upper()
    methods = _FIXED.get(rest)
    if methods is None:
        parts = rest.split("/")
        if len(parts) == 4 and parts[1] == "dialogs" and parts[3] == "actions":
            if not _DIALOG_ID.fullmatch(parts[2]):
                raise NotFound("dialog_not_found", "the agent has no such dialog")
            if method != "POST":
                raise BadRequest("method_not_allowed", f"{method} is not allowed here; use POST")
            return Route("dialog_action", parts[2])
        raise NotFound("route_not_found", "no such API route")
    operation = methods.get(method)
    if operation is None:
        allowed = ", ".join(sorted(methods))
        raise BadRequest("method_not_allowed", f"{method} is not allowed here; use {allowed}")
    return Route(operation)
