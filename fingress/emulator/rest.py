"""The Finesse REST API of one side (``/finesse/api/...``), XML in and out.

Writes answer ``202 Accepted`` with an empty body and publish their outcome later, echoing the
``requestId`` request header. Synchronous failures are ``<ApiErrors>`` documents with Finesse's status
codes; bad credentials get Finesse's HTML error page when ``behaviour.unauthorized_html`` is on. A side
that is out of service answers 503 ``SERVER_OUT_OF_SERVICE`` to everything but SystemInfo.

Emulator assumption: the device list of a shared-line extension is served at
``GET /finesse/api/User/{id}/Devices?extension=N`` (without ``extension``: the agent's current one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from edge.tunnel.errors import ApiError

from . import errors, render
from .bodies import parse_dialog_request, parse_user_update
from .cluster import Cluster
from .commands import Actor
from .credentials import Authenticator
from .hub import Side

XML = "application/xml"
MAX_REQUEST_ID_CHARS = 128

# What Finesse's web container sends for bad credentials (seen in the field instead of <ApiErrors>).
UNAUTHORIZED_PAGE = (
    '<!doctype html><html lang="en"><head><title>HTTP Status 401 – Unauthorized</title></head>'
    '<body><h1>HTTP Status 401 – Unauthorized</h1><hr class="line" /><p><b>Type</b> Status Report</p>'
    "<p><b>Description</b> The request has not been applied because it lacks valid authentication "
    'credentials for the target resource.</p><hr class="line" /><h3>Cisco Finesse</h3></body></html>'
)


def xml_response(document: str, status_code: int = 200) -> Response:
    return Response(document, status_code=status_code, media_type=XML)


def error_response(error: ApiError, *, html_unauthorized: bool = False) -> Response:
    """Render a synchronous error the way Finesse does."""
    headers = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="Cisco Finesse"'
        if html_unauthorized and error.code == "unauthorized":
            return HTMLResponse(UNAUTHORIZED_PAGE, status_code=401, headers=headers)
    return Response(
        render.sync_error_document(error), status_code=error.status, media_type=XML, headers=headers
    )


Handler = Callable[[Request, Actor], Awaitable[Response]]


class FinesseApi:
    """Routes of ``/finesse/api`` for ``side``."""

    def __init__(
        self,
        *,
        side: Side,
        cluster: Cluster,
        authenticator: Authenticator,
        max_body_bytes: int,
        unauthorized_html: bool,
    ) -> None:
        self._side = side
        self._cluster = cluster
        self._authenticator = authenticator
        self._max_body_bytes = max_body_bytes
        self._unauthorized_html = unauthorized_html

    def routes(self) -> list[Route]:
        api = "/finesse/api"
        return [
            Route(f"{api}/SystemInfo", self.system_info, methods=["GET"]),
            Route(f"{api}/User/{{agent_id}}", self._authenticated(self.get_user), methods=["GET"]),
            Route(f"{api}/User/{{agent_id}}", self._authenticated(self.put_user), methods=["PUT"]),
            Route(
                f"{api}/User/{{agent_id}}/ReasonCodes",
                self._authenticated(self.reason_codes),
                methods=["GET"],
            ),
            Route(
                f"{api}/User/{{agent_id}}/WrapUpReasons",
                self._authenticated(self.wrap_up_reasons),
                methods=["GET"],
            ),
            Route(f"{api}/User/{{agent_id}}/Devices", self._authenticated(self.devices), methods=["GET"]),
            Route(f"{api}/User/{{agent_id}}/Dialogs", self._authenticated(self.get_dialogs), methods=["GET"]),
            Route(f"{api}/User/{{agent_id}}/Dialogs", self._authenticated(self.make_call), methods=["POST"]),
            Route(f"{api}/Dialog/{{dialog_id}}", self._authenticated(self.get_dialog), methods=["GET"]),
            Route(f"{api}/Dialog/{{dialog_id}}", self._authenticated(self.put_dialog), methods=["PUT"]),
        ]

    def _authenticated(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                self._cluster.require_in_service(self._side)
                actor = self._authenticator.authenticate(request.headers.get("authorization"))
                return await handler(request, actor)
            except ApiError as error:
                return error_response(error, html_unauthorized=self._unauthorized_html)

        return endpoint

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body_bytes:
            raise errors.invalid_input("body", f"the body is larger than {self._max_body_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self._max_body_bytes:
                raise errors.invalid_input("body", f"the body is larger than {self._max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _request_id(request: Request) -> str:
        request_id = request.headers.get("requestid", "")
        if len(request_id) > MAX_REQUEST_ID_CHARS or not request_id.isprintable():
            raise errors.invalid_input("requestId", "requestId must be printable and at most 128 characters")
        return request_id

    async def system_info(self, request: Request) -> Response:
        return xml_response(self._cluster.system_info_document(self._side))

    async def get_user(self, request: Request, actor: Actor) -> Response:
        return xml_response(self._cluster.user_document(actor, request.path_params["agent_id"]))

    async def put_user(self, request: Request, actor: Actor) -> Response:
        request_id = self._request_id(request)
        update = parse_user_update(await self._body(request))
        self._cluster.update_user(self._side, actor, request.path_params["agent_id"], update, request_id)
        return Response(status_code=202)

    async def reason_codes(self, request: Request, actor: Actor) -> Response:
        category = request.query_params.get("category")
        return xml_response(
            self._cluster.reason_codes_document(actor, request.path_params["agent_id"], category)
        )

    async def wrap_up_reasons(self, request: Request, actor: Actor) -> Response:
        return xml_response(self._cluster.wrap_up_reasons_document(actor, request.path_params["agent_id"]))

    async def devices(self, request: Request, actor: Actor) -> Response:
        extension = request.query_params.get("extension")
        return xml_response(self._cluster.devices_document(actor, request.path_params["agent_id"], extension))

    async def get_dialogs(self, request: Request, actor: Actor) -> Response:
        return xml_response(self._cluster.dialogs_document(actor, request.path_params["agent_id"]))

    async def make_call(self, request: Request, actor: Actor) -> Response:
        request_id = self._request_id(request)
        dialog_request = parse_dialog_request(await self._body(request))
        self._cluster.make_call(actor, request.path_params["agent_id"], dialog_request, request_id)
        return Response(status_code=202)

    async def get_dialog(self, request: Request, actor: Actor) -> Response:
        return xml_response(self._cluster.dialog_document(actor, request.path_params["dialog_id"]))

    async def put_dialog(self, request: Request, actor: Actor) -> Response:
        request_id = self._request_id(request)
        dialog_request = parse_dialog_request(await self._body(request))
        self._cluster.dialog_action(actor, request.path_params["dialog_id"], dialog_request, request_id)
        return Response(status_code=202)
