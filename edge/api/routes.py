"""The route table of the public API v1: the single source for routing, the allow list, audit names and
the OpenAPI document.

A route is *forwarded* (validated here, answered by the connector through the tunnel) or *local* (the
edge answers it: event tickets, the event socket, the OpenAPI document).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from edge.api import models, responses


@dataclass(frozen=True, slots=True)
class Answer:
    """One documented answer of a route: its status and body shape (several models: any one of them)."""

    status: int
    description: str
    models: tuple[type[BaseModel], ...] = ()
    # Errors are application/problem+json; everything else application/json.
    problem: bool = False


_AGENT = Answer(200, "The agent, as Finesse confirmed it", (responses.Agent,))
_PENDING = Answer(
    202, "Accepted by Finesse, not confirmed in time: the outcome arrives as an event", (responses.Pending,)
)
_DIALOG = Answer(200, "The call, as Finesse confirmed it", (responses.Dialog, responses.EndedDialog))
_NO_SESSION = Answer(
    404, "no_session: the agent is not signed in through fingress", (responses.Problem,), True
)


class Handling(StrEnum):
    FORWARDED = "forwarded"
    TICKET = "ticket"
    EVENTS = "events"
    OPENAPI = "openapi"


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One method and path template of the public API."""

    method: str
    path: str
    operation_id: str
    summary: str
    handling: Handling = Handling.FORWARDED
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    # Written to the audit log with the agent id and the outcome status; None for reads.
    audit_action: str | None = None
    # Sign-in gets the stricter rate limit.
    sign_in: bool = False
    authenticated: bool = True
    # The answers this route documents besides the errors every route can give.
    answers: tuple[Answer, ...] = ()

    @property
    def key(self) -> str:
        """How the policy's allow list names this route, e.g. ``"POST /api/v1/dialogs"``."""
        return f"{self.method} {self.path}"


# Path parameters accept only what a Finesse id can look like; anything else is simply not a route.
_PARAM_PATTERN = r"[0-9A-Za-z_-]{1,64}"

ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("GET", "/api/v1/agent", "getAgent", "The caller's agent", answers=(_AGENT, _NO_SESSION)),
    RouteSpec(
        "POST",
        "/api/v1/agent/session",
        "signIn",
        "Sign in to Finesse",
        body=models.SignIn,
        audit_action="sign_in",
        sign_in=True,
        answers=(
            _AGENT,
            _PENDING,
            Answer(
                409,
                "device_selection_required (sign in again with one of `devices`), or another conflict",
                (responses.DeviceSelectionProblem, responses.Problem),
                True,
            ),
        ),
    ),
    RouteSpec(
        "DELETE",
        "/api/v1/agent/session",
        "signOut",
        "Sign out of Finesse",
        body=models.SignOut,
        body_required=False,
        audit_action="sign_out",
        answers=(_AGENT, _PENDING, _NO_SESSION),
    ),
    RouteSpec(
        "PUT",
        "/api/v1/agent/state",
        "changeState",
        "Go READY or NOT_READY",
        body=models.StateChange,
        audit_action="state_change",
        answers=(_AGENT, _PENDING, _NO_SESSION),
    ),
    RouteSpec(
        "GET",
        "/api/v1/reason-codes",
        "listReasonCodes",
        "Reason codes",
        query=models.ReasonCodeQuery,
        answers=(Answer(200, "The reason codes of the category", (responses.ReasonCodeList,)), _NO_SESSION),
    ),
    RouteSpec(
        "GET",
        "/api/v1/wrap-up-reasons",
        "listWrapUpReasons",
        "Wrap-up reasons",
        answers=(Answer(200, "The agent's wrap-up reasons", (responses.WrapUpReasonList,)), _NO_SESSION),
    ),
    RouteSpec(
        "GET",
        "/api/v1/dialogs",
        "listDialogs",
        "The agent's calls",
        answers=(Answer(200, "The agent's current calls", (responses.DialogList,)), _NO_SESSION),
    ),
    RouteSpec(
        "POST",
        "/api/v1/dialogs",
        "makeCall",
        "Make a call",
        body=models.MakeCall,
        audit_action="make_call",
        answers=(_DIALOG, _PENDING, _NO_SESSION),
    ),
    RouteSpec(
        "POST",
        "/api/v1/dialogs/{dialog_id}/actions",
        "dialogAction",
        "Act on one of the agent's calls",
        body=models.DialogAction,
        audit_action="dialog_action",
        answers=(
            _DIALOG,
            _PENDING,
            Answer(404, "dialog_not_found or no_session", (responses.Problem,), True),
        ),
    ),
    RouteSpec(
        "POST",
        "/api/v1/events/ticket",
        "createEventsTicket",
        "A one-time ticket for the event socket",
        handling=Handling.TICKET,
        answers=(Answer(201, "The ticket", (models.EventsTicket,)),),
    ),
    RouteSpec("GET", "/api/v1/events", "events", "The event stream (WebSocket)", handling=Handling.EVENTS),
    RouteSpec(
        "GET",
        "/api/v1/openapi.json",
        "openapi",
        "This document",
        handling=Handling.OPENAPI,
        authenticated=False,
    ),
)

ROUTE_KEYS: frozenset[str] = frozenset(route.key for route in ROUTES)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: RouteSpec
    params: dict[str, str]


class RouteTable:
    """Matches a method and path against a set of routes (the allow-listed subset of :data:`ROUTES`)."""

    def __init__(self, routes: tuple[RouteSpec, ...]) -> None:
        self._compiled = [(route, _compile(route.path)) for route in routes]

    def match(self, method: str, path: str) -> RouteMatch | None:
        """The route for ``method`` and ``path``, or None when it is not (allowed) here."""
        for route, pattern in self._compiled:
            if route.method != method:
                continue
            found = pattern.fullmatch(path)
            if found is not None:
                return RouteMatch(route, found.groupdict())
        return None


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    # re.split alternates literal text and parameter names.
    pattern = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>{_PARAM_PATTERN})"
        for index, part in enumerate(parts)
    )
    return re.compile(pattern)
