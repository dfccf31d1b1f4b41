"""The Finesse REST client: one per Finesse side, all sharing one ``httpx.AsyncClient``.

The connector process builds one small-pooled HTTP client (:func:`build_http_client`; httpx pools degrade
with many idle connections) and one :class:`FinesseClient` per side on top of it. Credentials are not part
of a client: every call takes the agent's :data:`~connector.finesse.credentials.Credentials`, and every
call acts on that agent's own user and dialogs. The session layer moves an agent to the other side by
calling the other side's client.

Requests Finesse answers asynchronously (sign-in, state changes, make call, dialog actions) return
:class:`Accepted` carrying the ``requestId`` header that was sent; pass your own ``request_id`` to start
waiting for the notification before the request goes out (the notification can beat the 202).

Errors: every method raises only :class:`~edge.tunnel.errors.ApiError` subclasses (see
:mod:`connector.finesse.errors`); transport failures are translated here and re-raised ``from`` the httpx
exception. The client never retries: a retried bad password is how accounts get locked.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from connector.finesse.commands import DialogAction, MakeCall, RequestedState, SignIn, StateChange
from connector.finesse.credentials import Credentials
from connector.finesse.errors import FinesseProtocolError, SideUnreachable
from connector.finesse.failures import error_for_response
from connector.finesse.http_transport import asyncio_http_transport
from connector.finesse.ids import AgentId, DialogId, ReasonCodeId, RequestId
from connector.finesse.models import (
    Device,
    Dialog,
    ReasonCode,
    ReasonCodeCategory,
    SystemInfo,
    User,
    WrapUpReason,
)
from connector.finesse.observer import CallObserver, FinesseCall
from connector.finesse.parse import (
    parse_devices,
    parse_dialog,
    parse_dialogs,
    parse_reason_codes,
    parse_system_info,
    parse_user,
    parse_wrap_up_reasons,
)
from connector.finesse.render import (
    render_dialog_action,
    render_make_call,
    render_sign_in,
    render_state_change,
)
from connector.finesse.xmltree import DEFAULT_LIMITS, XmlLimits
from edge.tunnel.errors import ApiError, BadRequest, UpstreamError, UpstreamTimeout

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _Decoder(Protocol[T_co]):
    """A body parser of :mod:`connector.finesse.parse`."""

    def __call__(self, document: bytes, /, *, limits: XmlLimits) -> T_co: ...


# The emulator's choice; Finesse's own URI for the device list is unconfirmed, hence configurable.
DEFAULT_DEVICES_PATH = "/finesse/api/User/{agent_id}/Devices"


def new_request_id() -> RequestId:
    """A fresh ``requestId`` for one asynchronous call."""
    return RequestId(str(uuid.uuid4()))


@dataclass(frozen=True, slots=True)
class Accepted:
    """Finesse accepted an asynchronous request; its outcome arrives as a notification with ``request_id``."""

    request_id: RequestId


def build_http_client(
    *,
    ca_file: Path | None = None,
    ssl_context: ssl.SSLContext | None = None,
    connect_timeout_s: float = 3.0,
    timeout_s: float = 10.0,
    max_connections: int = 16,
    max_keepalive_connections: int | None = None,
    keepalive_expiry_s: float = 15.0,
) -> httpx.AsyncClient:
    """The one HTTP client a connector process shares across agents and sides.

    Certificates are always verified: against ``ssl_context`` when given, else the system store plus
    ``ca_file``. The environment is not consulted (no proxy variables, no ``SSL_CERT_FILE``) and redirects
    are not followed: configuration says where Finesse is. Every connection the pool may open is kept
    alive (``max_keepalive_connections`` defaults to ``max_connections``) until ``keepalive_expiry_s``.
    """
    # Idle connections are retired before Finesse's Tomcat would close them (its keep-alive timeout
    # defaults to 20 s): a request sent on a connection the server is closing at that moment fails with
    # "server disconnected", and is not retried (it may have reached Finesse).
    # A keep-alive count below the limit churns: the pool closes a connection that turns idle while it
    # holds more connections than that count (as httpcore's did), and the next request opens a new one,
    # a TLS handshake with Finesse each (with httpcore, 8 of 16 kept alive, 16 in flight: ~1,550
    # handshakes per 1,600 requests; tests/connector/bench_http_keepalive.py). The limit is small:
    # keeping all costs little.
    if max_keepalive_connections is None:
        max_keepalive_connections = max_connections
    if ssl_context is None:
        ssl_context = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    # Our own transport (connector.finesse.http_transport): pooled HTTP/1.1 on the asyncio-native network
    # backend. httpx's default, httpcore's pool on anyio, was over a third of the connector's CPU in a
    # sign-in storm.
    transport = asyncio_http_transport(
        ssl_context=ssl_context,
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive_connections,
        keepalive_expiry_s=keepalive_expiry_s,
    )
    return httpx.AsyncClient(
        transport=transport,
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
    )


class FinesseClient:
    """REST calls against one Finesse side (``base_url`` such as ``https://finesse-a.example:8445``)."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        side: str = "A",
        devices_path: str = DEFAULT_DEVICES_PATH,
        observer: CallObserver | None = None,
        xml_limits: XmlLimits = DEFAULT_LIMITS,
        request_ids: Callable[[], RequestId] = new_request_id,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("base_url must be an http(s) URL without query or fragment")
        if "{agent_id}" not in devices_path or not devices_path.startswith("/"):
            raise ValueError("devices_path must be an absolute path containing {agent_id}")
        self._http = http
        self._base_url = base_url.rstrip("/")
        self.side = side
        self._devices_path = devices_path
        self._observer = observer
        self._xml_limits = xml_limits
        self._request_ids = request_ids

    def __repr__(self) -> str:
        return f"FinesseClient(side={self.side!r})"

    # --- reads -----------------------------------------------------------------------------------------

    async def get_user(self, credentials: Credentials) -> User:
        """The agent's own User."""
        return await self._get("get_user", _user_path(credentials.agent_id), credentials, parse_user)

    async def get_reason_codes(
        self, credentials: Credentials, category: ReasonCodeCategory
    ) -> tuple[ReasonCode, ...]:
        """The reason codes of ``category`` the agent may use."""
        path = f"{_user_path(credentials.agent_id)}/ReasonCodes?category={quote(category.value, safe='')}"
        return await self._get("get_reason_codes", path, credentials, parse_reason_codes)

    async def get_wrap_up_reasons(self, credentials: Credentials) -> tuple[WrapUpReason, ...]:
        path = f"{_user_path(credentials.agent_id)}/WrapUpReasons"
        return await self._get("get_wrap_up_reasons", path, credentials, parse_wrap_up_reasons)

    async def get_dialogs(self, credentials: Credentials) -> tuple[Dialog, ...]:
        """The agent's current dialogs."""
        return await self._get(
            "get_dialogs", f"{_user_path(credentials.agent_id)}/Dialogs", credentials, parse_dialogs
        )

    async def get_dialog(self, credentials: Credentials, dialog_id: DialogId) -> Dialog:
        return await self._get("get_dialog", _dialog_path(dialog_id), credentials, parse_dialog)

    async def get_devices(
        self, credentials: Credentials, *, extension: str | None = None
    ) -> tuple[Device, ...]:
        """The devices behind ``extension`` (shared line / multiline), by default the agent's current one;
        ask with the extension before signing in, to offer a choice."""
        path = self._devices_path.format(agent_id=_segment(credentials.agent_id))
        if extension is not None:
            separator = "&" if "?" in path else "?"
            path = f"{path}{separator}extension={quote(extension, safe='')}"
        return await self._get("get_devices", path, credentials, parse_devices)

    async def get_system_info(self, credentials: Credentials | None = None) -> SystemInfo:
        """The side's SystemInfo (``in_service`` says whether it can be used)."""
        return await self._get("get_system_info", "/finesse/api/SystemInfo", credentials, parse_system_info)

    # --- asynchronous requests (202, then a notification) ----------------------------------------------

    async def sign_in(
        self, credentials: Credentials, command: SignIn, *, request_id: RequestId | None = None
    ) -> Accepted:
        return await self._put_user("sign_in", credentials, render_sign_in(command), request_id)

    async def change_state(
        self, credentials: Credentials, command: StateChange, *, request_id: RequestId | None = None
    ) -> Accepted:
        return await self._put_user("change_state", credentials, render_state_change(command), request_id)

    async def sign_out(
        self,
        credentials: Credentials,
        *,
        reason_code_id: ReasonCodeId | None = None,
        request_id: RequestId | None = None,
    ) -> Accepted:
        body = render_state_change(StateChange(RequestedState.LOGOUT, reason_code_id))
        return await self._put_user("sign_out", credentials, body, request_id)

    async def make_call(
        self, credentials: Credentials, command: MakeCall, *, request_id: RequestId | None = None
    ) -> Accepted:
        path = f"{_user_path(credentials.agent_id)}/Dialogs"
        body = render_make_call(command)
        return await self._send_async("make_call", "POST", path, credentials, body, request_id)

    async def dialog_action(
        self,
        credentials: Credentials,
        dialog_id: DialogId,
        command: DialogAction,
        *,
        request_id: RequestId | None = None,
    ) -> Accepted:
        body = render_dialog_action(command)
        return await self._send_async(
            "dialog_action", "PUT", _dialog_path(dialog_id), credentials, body, request_id
        )

    # --- plumbing ----------------------------------------------------------------------------------------

    async def _put_user(
        self, operation: str, credentials: Credentials, body: bytes, request_id: RequestId | None
    ) -> Accepted:
        path = _user_path(credentials.agent_id)
        return await self._send_async(operation, "PUT", path, credentials, body, request_id)

    async def _send_async(
        self,
        operation: str,
        method: str,
        path: str,
        credentials: Credentials,
        body: bytes,
        request_id: RequestId | None,
    ) -> Accepted:
        request_id = request_id or self._request_ids()
        await self._exchange(
            operation, method, path, credentials, body=body, request_id=request_id, decode=_ignore_body
        )
        return Accepted(request_id)

    async def _get(
        self, operation: str, path: str, credentials: Credentials | None, parser: _Decoder[T]
    ) -> T:
        return await self._exchange(operation, "GET", path, credentials, decode=parser)

    async def _exchange(
        self,
        operation: str,
        method: str,
        path: str,
        credentials: Credentials | None,
        *,
        decode: _Decoder[T],
        body: bytes | None = None,
        request_id: RequestId | None = None,
    ) -> T:
        """Send one request and return its decoded success body; report it to the observer either way."""
        headers = {"Accept": "application/xml"}
        if credentials is not None:
            headers["Authorization"] = credentials.authorization()
        if body is not None:
            headers["Content-Type"] = "application/xml"
        if request_id is not None:
            headers["requestId"] = request_id
        started = time.perf_counter()
        status: int | None = None
        error_code: str | None = None
        try:
            try:
                async with self._http.stream(
                    method, self._base_url + path, content=body, headers=headers
                ) as response:
                    status = response.status_code
                    payload = await self._read_bounded(response)
            except httpx.HTTPError as exc:
                raise self._transport_error(exc) from exc
            except FinesseProtocolError as exc:
                raise UpstreamError(
                    "finesse_bad_response", "Finesse sent an oversized answer", reason=exc.reason
                ) from exc
            if not 200 <= status < 300:
                raise error_for_response(status=status, body=payload, side=self.side)
            try:
                return decode(payload, limits=self._xml_limits)
            except FinesseProtocolError as exc:
                raise UpstreamError(
                    "finesse_bad_response", "Finesse sent an answer that cannot be read", reason=exc.reason
                ) from exc
        except ApiError as exc:
            error_code = exc.code
            raise
        except asyncio.CancelledError:
            error_code = "cancelled"
            raise
        finally:
            if self._observer is not None:
                duration_s = time.perf_counter() - started
                call = FinesseCall(operation, self.side, duration_s, status, error_code)
                self._observer.call_finished(call)

    async def _read_bounded(self, response: httpx.Response) -> bytes:
        limit = self._xml_limits.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FinesseProtocolError("finesse_xml_too_large", f"declared {declared} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise FinesseProtocolError("finesse_xml_too_large", f"more than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _transport_error(self, exc: httpx.HTTPError) -> ApiError:
        side = self.side
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            if _caused_by_tls(exc):
                return SideUnreachable("finesse_tls_failed", f"TLS with Finesse side {side} failed")
            return SideUnreachable("finesse_unreachable", f"Finesse side {side} is unreachable")
        if isinstance(exc, httpx.TimeoutException):
            return UpstreamTimeout("finesse_timeout", f"Finesse side {side} did not answer in time")
        return UpstreamError("finesse_connection_lost", f"the connection to Finesse side {side} failed")


def _ignore_body(body: bytes, *, limits: XmlLimits) -> None:
    """Asynchronous requests answer 202 without a body worth reading."""


def _segment(value: str) -> str:
    """One path segment, escaped so an id can never change the path (``..``, ``/``, ``?``)."""
    if not value or value in (".", ".."):
        raise BadRequest("invalid_finesse_request", "an empty or relative id cannot address Finesse")
    return quote(value, safe="")


def _user_path(agent_id: AgentId) -> str:
    return f"/finesse/api/User/{_segment(agent_id)}"


def _dialog_path(dialog_id: DialogId) -> str:
    return f"/finesse/api/Dialog/{_segment(dialog_id)}"


def _caused_by_tls(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
