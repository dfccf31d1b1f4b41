"""The emulator's control API (JSON, under ``/emulator/``) for tests and the demo: offer calls, answer them
on the agent's phone, hang up as the customer, take sides down and up, and look inside.

Unauthenticated by design: the emulator is a development tool and listens on loopback by default.

================================================  ==================================================
``POST /emulator/calls``                          ``{"agent_id"?, "from", "call_variables"?}`` → 201
                                                  ``{"dialog_id"}``; to the agent READY the longest
                                                  when ``agent_id`` is absent (409 when nobody is)
``POST /emulator/calls/{dialog_id}/answer``       the alerting agent answers on the phone, else the
                                                  outside number a MAKE_CALL rings answers
``POST /emulator/calls/{dialog_id}/hangup``       the outside party hangs up
``POST /emulator/calls/call-data``                ``{"dialog_ids", "call_variables"?,
                                                  "stamp_variable"?, "spread_s"?}`` → ``{"updated":
                                                  [ids]}``: call data set from outside (an IVR); the
                                                  stamp variable gets the emulator's clock (Unix ns)
                                                  at publication; ``spread_s`` (≤ 1) spaces the
                                                  updates evenly over that time, in slots of
                                                  ``timing.call_data_slot_s``
``POST /emulator/sides/{A|B}/down`` / ``/up``     take a side out of service / back
``POST /emulator/sides/{A|B}/webapp/down``        the side's Finesse webapp goes down / ``…/up`` comes
                                                  back: the ``finesse`` user's presence, nothing else
``GET /emulator/agents``                          every agent with state, reason, pending state …
``GET /emulator/dialogs``                         every dialog with participants
``GET /emulator/presence``                        each side's view of agent presence
``GET /emulator/forced-changes``                  system-forced changes (presence loss, nailed drop …)
``POST /emulator/agents/{id}/nailed/hangup``      the nailed connection drops (signs the agent out)
``POST /emulator/agents/{id}/unlock``             clear an account lock
``GET`` / ``PUT /emulator/timing``                read / change timings (partial JSON object)
``POST /emulator/reset``                          back to the configured start (all signed out, no
                                                  calls, no locks, sides up, configured timings)
================================================  ==================================================
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edge.tunnel.errors import ApiError, BadRequest, Conflict, NotFound

from . import config
from .cluster import Cluster
from .cti import NoAgentAvailable
from .hub import SIDES, Side
from .model import Agent, Dialog

MAX_CONTROL_BODY_BYTES = 64 * 1024
_CALLER = re.compile(r"^\+?[0-9]{1,32}$")


def _problem(error: ApiError) -> JSONResponse:
    return JSONResponse({"code": error.code, "detail": error.detail}, status_code=error.status)


class ControlApi:
    def __init__(self, *, cluster: Cluster) -> None:
        self._cluster = cluster

    def routes(self) -> list[Route]:
        def wrap(handler: Any) -> Any:
            async def endpoint(request: Request) -> Response:
                try:
                    response: Response = await handler(request)
                except ApiError as error:
                    return _problem(error)
                return response

            return endpoint

        return [
            Route("/emulator/calls", wrap(self.offer_call), methods=["POST"]),
            Route("/emulator/calls/call-data", wrap(self.call_data), methods=["POST"]),
            Route("/emulator/calls/{dialog_id}/answer", wrap(self.answer), methods=["POST"]),
            Route("/emulator/calls/{dialog_id}/hangup", wrap(self.hangup), methods=["POST"]),
            Route("/emulator/sides/{side}/{direction}", wrap(self.side), methods=["POST"]),
            Route("/emulator/sides/{side}/webapp/{direction}", wrap(self.webapp), methods=["POST"]),
            Route("/emulator/agents", wrap(self.agents), methods=["GET"]),
            Route("/emulator/agents/{agent_id}/nailed/hangup", wrap(self.nailed_hangup), methods=["POST"]),
            Route("/emulator/agents/{agent_id}/unlock", wrap(self.unlock), methods=["POST"]),
            Route("/emulator/dialogs", wrap(self.dialogs), methods=["GET"]),
            Route("/emulator/presence", wrap(self.presence), methods=["GET"]),
            Route("/emulator/forced-changes", wrap(self.forced_changes), methods=["GET"]),
            Route("/emulator/timing", wrap(self.get_timing), methods=["GET"]),
            Route("/emulator/timing", wrap(self.put_timing), methods=["PUT"]),
            Route("/emulator/reset", wrap(self.reset), methods=["POST"]),
        ]

    @staticmethod
    async def _json_object(request: Request) -> dict[str, Any]:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_CONTROL_BODY_BYTES:
                raise BadRequest("body_too_large", f"the body is larger than {MAX_CONTROL_BODY_BYTES} bytes")
        try:
            value = json.loads(body or b"{}")
        except (ValueError, RecursionError) as error:
            raise BadRequest("invalid_json", "the body is not valid JSON") from error
        if not isinstance(value, dict):
            raise BadRequest("invalid_json", "the body must be a JSON object")
        return value

    async def offer_call(self, request: Request) -> Response:
        body = await self._json_object(request)
        agent_id = body.get("agent_id")
        from_address = body.get("from")
        call_variables = body.get("call_variables", {})
        if agent_id is not None and not isinstance(agent_id, str):
            raise BadRequest("invalid_agent_id", "agent_id must be a string")
        if not isinstance(from_address, str) or not _CALLER.match(from_address.strip()):
            raise BadRequest("invalid_from", "from must be the caller's number (+ and up to 32 digits)")
        if not isinstance(call_variables, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in call_variables.items()
        ):
            raise BadRequest("invalid_call_variables", "call_variables must map names to strings")
        try:
            dialog_id = self._cluster.offer_call(
                agent_id=agent_id, from_address=from_address.strip(), call_variables=call_variables
            )
        except NoAgentAvailable as error:
            raise Conflict("no_agent_ready", str(error)) from error
        except ApiError as error:
            raise BadRequest(error.code, error.detail) from error
        return JSONResponse({"dialog_id": dialog_id}, status_code=201)

    async def call_data(self, request: Request) -> Response:
        body = await self._json_object(request)
        dialog_ids = body.get("dialog_ids")
        call_variables = body.get("call_variables", {})
        stamp_variable = body.get("stamp_variable")
        if not isinstance(dialog_ids, list) or not all(isinstance(item, str) for item in dialog_ids):
            raise BadRequest("invalid_dialog_ids", "dialog_ids must be a list of dialog ids")
        if not isinstance(call_variables, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in call_variables.items()
        ):
            raise BadRequest("invalid_call_variables", "call_variables must map names to strings")
        if stamp_variable is not None and not isinstance(stamp_variable, str):
            raise BadRequest("invalid_stamp_variable", "stamp_variable must be a call variable name")
        spread_s = body.get("spread_s", 0)
        if isinstance(spread_s, bool) or not isinstance(spread_s, int | float) or not 0 <= spread_s <= 1:
            raise BadRequest("invalid_spread", "spread_s must be a number of seconds from 0 to 1")
        try:
            updated = self._cluster.update_call_data(
                dialog_ids, call_variables, stamp_variable=stamp_variable, spread_s=float(spread_s)
            )
        except ApiError as error:
            raise BadRequest(error.code, error.detail) from error
        return JSONResponse({"updated": updated})

    async def answer(self, request: Request) -> Response:
        if not self._cluster.cti.answer_on_phone(request.path_params["dialog_id"]):
            raise Conflict("not_alerting", "nobody is alerting on that dialog")
        return JSONResponse({})

    async def hangup(self, request: Request) -> Response:
        if not self._cluster.cti.customer_hangup(request.path_params["dialog_id"]):
            raise Conflict("no_outside_party", "that dialog has no connected outside party")
        return JSONResponse({})

    async def side(self, request: Request) -> Response:
        name, direction = request.path_params["side"], request.path_params["direction"]
        sides: dict[str, Side] = {side: side for side in SIDES}
        if name not in sides or direction not in ("up", "down"):
            raise NotFound("not_found", "use /emulator/sides/{A|B}/{up|down}")
        self._cluster.set_in_service(sides[name], direction == "up")
        return JSONResponse({"side": name, "in_service": direction == "up"})

    async def webapp(self, request: Request) -> Response:
        name, direction = request.path_params["side"], request.path_params["direction"]
        sides: dict[str, Side] = {side: side for side in SIDES}
        if name not in sides or direction not in ("up", "down"):
            raise NotFound("not_found", "use /emulator/sides/{A|B}/webapp/{up|down}")
        self._cluster.set_webapp_up(sides[name], direction == "up")
        return JSONResponse({"side": name, "webapp_up": direction == "up"})

    def _agent(self, request: Request) -> Agent:
        agent = self._cluster.cti.agents.get(request.path_params["agent_id"])
        if agent is None:
            raise NotFound("unknown_agent", "no such agent")
        return agent

    async def agents(self, request: Request) -> Response:
        cluster = self._cluster
        return JSONResponse(
            [
                agent_json(agent, locked=cluster.accounts.locked(agent.id))
                for agent in cluster.cti.agents.values()
            ]
        )

    async def nailed_hangup(self, request: Request) -> Response:
        agent = self._agent(request)
        if not self._cluster.cti.hang_up_nailed(agent.id):
            raise Conflict("no_nailed_connection", "the agent has no nailed connection up")
        return JSONResponse({})

    async def unlock(self, request: Request) -> Response:
        self._cluster.accounts.unlock(self._agent(request).id)
        return JSONResponse({})

    async def dialogs(self, request: Request) -> Response:
        return JSONResponse([dialog_json(dialog) for dialog in self._cluster.cti.dialogs.values()])

    async def presence(self, request: Request) -> Response:
        return JSONResponse(self._cluster.presence())

    async def forced_changes(self, request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "agent_id": change.agent_id,
                    "side": change.side,
                    "state": change.state,
                    "reason_code": change.reason_code,
                }
                for change in self._cluster.cti.forced_changes
            ]
        )

    async def reset(self, request: Request) -> Response:
        self._cluster.reset()
        return JSONResponse({})

    async def get_timing(self, request: Request) -> Response:
        return JSONResponse(self._cluster.timing.model_dump())

    async def put_timing(self, request: Request) -> Response:
        changes = await self._json_object(request)
        try:
            timing = config.Timing.model_validate({**self._cluster.timing.model_dump(), **changes})
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
                for item in error.errors(include_url=False)
            )
            raise BadRequest("invalid_timing", problems) from error
        self._cluster.set_timing(timing)
        return JSONResponse(timing.model_dump())


def agent_json(agent: Agent, *, locked: bool) -> dict[str, Any]:
    return {
        "id": agent.id,
        "state": agent.state,
        "reason_code": agent.reason.code if agent.reason is not None else None,
        "reason_code_id": agent.reason.id if agent.reason is not None else None,
        "pending_state": agent.pending_state,
        "extension": agent.extension,
        "device_id": agent.device_id,
        "mobile_agent": (
            {"mode": agent.mobile_agent.mode, "dial_number": agent.mobile_agent.dial_number}
            if agent.mobile_agent is not None
            else None
        ),
        "nailed_connected": agent.nailed_connected,
        "signed_in_side": agent.signed_in_side,
        "locked": locked,
    }


def dialog_json(dialog: Dialog) -> dict[str, Any]:
    return {
        "id": dialog.id,
        "state": dialog.state,
        "call_type": dialog.call_type,
        "from": dialog.from_address,
        "to": dialog.to_address,
        "call_variables": dict(dialog.call_variables),
        "wrap_up_reason": dialog.wrap_up_reason,
        "dtmf_digits": dialog.dtmf_digits,
        "participants": [
            {"address": p.media_address, "agent_id": p.agent_id, "state": p.state}
            for p in dialog.participants
        ],
    }
