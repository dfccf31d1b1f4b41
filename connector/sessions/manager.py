"""The session manager: the connector's :class:`~connector.tunnel.service.TunnelService`.

It routes each request the tunnel forwards to the agent's session (creating one at sign-in), turns JSON
bodies into validated Finesse commands, and answers JSON. Every agent route needs the edge's verified
principal (401 without one); the agent id comes only from it, so an agent can only ever reach its own
session. Bad input is a 400 with a stable code, never a 500. Work per request and per event touches one
agent's session only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import structlog

from connector.finesse.commands import (
    DialogAction,
    DialogActionName,
    RequestedState,
    SignIn,
    StateChange,
)
from connector.finesse.credentials import BearerCredentials, Credentials, PasswordCredentials
from connector.finesse.ids import AgentId, DeviceId, DialogId, ReasonCodeId
from connector.finesse.models import CallVariable, MobileAgent, ReasonCodeCategory
from connector.sessions.bodies import (
    DialogActionBody,
    MakeCallBody,
    SignInBody,
    SignOutBody,
    StateBody,
    parse_body,
)
from connector.sessions.context import SessionContext
from connector.sessions.eventlog import EventSink
from connector.sessions.routes import Route, match_route
from connector.sessions.session import AgentSession, Reply
from edge.tunnel.errors import ApiError, BadRequest, NotFound, Unauthorized, Unavailable, UpstreamError
from edge.tunnel.messages import Principal, TunnelRequest, TunnelResponse

_log = structlog.get_logger(__name__)
_JSON = {"content-type": "application/json"}

# The shared Finesse REST client keeps 16 connections; more sign-ins at once only queue inside httpcore,
# whose pool scan per request grows with the queue, until the edge's timeout answers 504.
DEFAULT_SIGN_IN_CONCURRENCY = 16


class SessionManager:
    """All agent sessions of one connector process."""

    def __init__(
        self, *, context: SessionContext, sign_in_concurrency: int = DEFAULT_SIGN_IN_CONCURRENCY
    ) -> None:
        """``sign_in_concurrency`` bounds the sign-ins that talk to Finesse at once; the others wait
        their turn in arrival order (a short, fair queue instead of a long one inside the HTTP pool)."""
        if sign_in_concurrency < 1:
            raise ValueError("sign_in_concurrency must be at least 1")
        self._ctx = context
        self._sessions: dict[AgentId, AgentSession] = {}
        self._sign_in_slots = asyncio.Semaphore(sign_in_concurrency)

    def __len__(self) -> int:
        return len(self._sessions)

    def session(self, agent_id: AgentId) -> AgentSession | None:
        return self._sessions.get(agent_id)

    # --- TunnelService -------------------------------------------------------------------------------------

    async def handle(self, request: TunnelRequest) -> TunnelResponse:
        """Answer one public API request forwarded by the edge."""
        try:
            route = match_route(request.method, request.path)
            principal = request.principal
            if principal is None or not principal.agent_id:
                raise Unauthorized("unauthenticated", "agent routes need an authenticated caller")
            reply = await self._dispatch(route, principal, request)
        except ApiError:
            raise
        except Exception as error:
            # A bug here must not become a traceback for the app (nor leak internals): log it, answer 502.
            _log.exception("request_failed", path=request.path, request_id=request.request_id)
            raise UpstreamError("connector_error", "the connector failed to handle the request") from error
        return TunnelResponse(status=reply.status, headers=_JSON, body=json.dumps(reply.body).encode())

    async def attach(self, principal: Principal, since: int | None, sink: EventSink) -> None:
        """Deliver the agent's events to ``sink``, resuming after ``since``; 404 ``no_session`` if the
        agent is not signed in through this connector."""
        session = self._existing(principal)
        session.attach(sink, since)

    async def detach(self, agent_id: AgentId, sink: EventSink) -> None:
        session = self._sessions.get(agent_id)
        if session is not None:
            session.detach(sink)

    async def aclose(self) -> None:
        """Stop every session without changing any agent's state in Finesse (connector shutdown).

        All at once: each close waits for its XMPP stream's closing round trip, and one after another
        that was ~1.4 ms per agent of a restarting connector's downtime (seconds at 2,000 agents)."""
        sessions = list(self._sessions.values())
        outcomes = await asyncio.gather(*(session.close() for session in sessions), return_exceptions=True)
        for session, outcome in zip(sessions, outcomes, strict=True):
            if isinstance(outcome, Exception):
                _log.error("session_close_failed", agent_id=session.agent_id, error=type(outcome).__name__)
        self._sessions.clear()

    # --- routing -------------------------------------------------------------------------------------------

    async def _dispatch(self, route: Route, principal: Principal, request: TunnelRequest) -> Reply:
        op = route.operation
        if op == "sign_in":
            return await self._sign_in(principal, parse_body(SignInBody, request.body))
        session = self._existing(principal)
        if op == "get_agent":
            return await session.agent()
        if op == "sign_out":
            body = parse_body(SignOutBody, request.body)
            reason = ReasonCodeId(body.reason_code_id) if body.reason_code_id else None
            return await session.change_state(StateChange(RequestedState.LOGOUT, reason))
        if op == "change_state":
            state_body = parse_body(StateBody, request.body)
            reason = ReasonCodeId(state_body.reason_code_id) if state_body.reason_code_id else None
            return await session.change_state(StateChange(RequestedState(state_body.state), reason))
        if op == "reason_codes":
            return await session.reason_codes(_category(request.query))
        if op == "wrap_up_reasons":
            return await session.wrap_up_reasons()
        if op == "list_dialogs":
            return session.dialogs()
        if op == "make_call":
            return await session.make_call(parse_body(MakeCallBody, request.body).to)
        if op == "dialog_action" and route.dialog_id is not None:
            action_body = parse_body(DialogActionBody, request.body)
            return await session.dialog_action(DialogId(route.dialog_id), _action_builder(action_body))
        raise NotFound("route_not_found", "no such API route")

    async def _sign_in(self, principal: Principal, body: SignInBody) -> Reply:
        credentials = self._credentials(principal, body)
        mobile = body.mobile_agent
        command = SignIn(
            extension=body.extension,
            mobile_agent=MobileAgent(mobile.mode, mobile.dial_number) if mobile is not None else None,
            active_device_id=DeviceId(body.device_id) if body.device_id else None,
        )
        agent_id = principal.agent_id
        session = self._sessions.get(agent_id)
        created = session is None
        if session is None:
            if len(self._sessions) >= self._ctx.config.sessions.max_sessions:
                raise Unavailable("connector_full", "this connector holds as many sessions as it may")
            session = AgentSession(
                agent_id=agent_id, credentials=credentials, context=self._ctx, on_ended=self._forget
            )
            self._sessions[agent_id] = session
        _log.info("sign_in_requested", agent_id=agent_id, extension=body.extension, mobile=mobile is not None)
        try:
            async with self._sign_in_slots:
                return await session.sign_in(command, credentials)
        except BaseException:
            if created and not session.signed_in:
                self._forget(session)
                await session.close("sign_in_failed")
            raise

    def _existing(self, principal: Principal) -> AgentSession:
        session = self._sessions.get(principal.agent_id)
        if session is None:
            raise NotFound("no_session", "the agent is not signed in through fingress: sign in first")
        if self._ctx.config.finesse.auth_mode == "bearer" and principal.token:
            session.refresh_token(
                BearerCredentials(principal.agent_id, principal.token, expires_at=principal.token_expires_at)
            )
        return session

    def _credentials(self, principal: Principal, body: SignInBody) -> Credentials:
        if self._ctx.config.finesse.auth_mode == "bearer":
            if not principal.token:
                raise Unauthorized("finesse_token_missing", "the edge did not forward the caller's token")
            return BearerCredentials(
                principal.agent_id, principal.token, expires_at=principal.token_expires_at
            )
        if body.finesse_password is None:
            raise BadRequest("finesse_password_required", "finesse_password is required to sign in")
        return PasswordCredentials(principal.agent_id, body.finesse_password.get_secret_value())

    def _forget(self, session: AgentSession) -> None:
        if self._sessions.get(session.agent_id) is session:
            del self._sessions[session.agent_id]


def _category(query: str) -> ReasonCodeCategory:
    values = parse_qs(query, max_num_fields=8).get("category", [])
    if len(values) != 1 or values[0].upper() not in ("NOT_READY", "LOGOUT"):
        raise BadRequest("invalid_category", "category must be NOT_READY or LOGOUT")
    return ReasonCodeCategory(values[0].upper())


def _action_builder(body: DialogActionBody) -> Callable[[str], DialogAction]:
    """The command for the action, built once the agent's own extension is known."""
    variables = tuple(CallVariable(name, value) for name, value in (body.call_variables or {}).items())

    def build(extension: str) -> DialogAction:
        action = body.action
        kwargs: dict[str, Any] = {"action": action, "target_media_address": extension}
        if action in (DialogActionName.CONSULT_CALL, DialogActionName.TRANSFER_SST) or body.to is not None:
            kwargs["to_address"] = body.to
        if action is DialogActionName.SEND_DTMF or body.digits is not None:
            kwargs["dtmf_string"] = body.digits
        if variables:
            kwargs["call_variables"] = variables
        if body.wrap_up_reason is not None:
            kwargs["wrap_up_reason"] = body.wrap_up_reason
        # DialogAction checks that each action gets exactly the values it needs (400 otherwise).
        return DialogAction(**kwargs)

    return build
