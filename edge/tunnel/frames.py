"""Tunnel frames: typed values and their JSON text encoding (see PROTOCOL.md).

:func:`decode_frame` is the only way bytes from a peer become a frame. It never raises anything but
:class:`~edge.tunnel.errors.ProtocolError`, whatever it is fed: oversized, non-UTF-8 (lone surrogates
included), non-JSON, non-finite numbers, deeply nested, wrongly typed or unknown input all become a
``ProtocolError`` with a stable ``reason``. :func:`encode_frame` makes only text that decodes.

JSON goes through orjson (it was ~6 % of the connector's and ~5.5 % of the edge's CPU per event with the
stdlib); the stdlib encoder remains for what orjson will not write (see :func:`_encode_carefully`).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import orjson

from edge.tunnel.errors import ProtocolError
from edge.tunnel.messages import AgentEvent, AgentId, Principal, TunnelRequest, TunnelResponse

PROTOCOL_VERSIONS: Final = (1,)
"""Versions this code speaks, oldest first."""

DEFAULT_MAX_FRAME_BYTES: Final = 1 << 20
# Stream ids stay exact in every JSON implementation (IEEE doubles).
MAX_STREAM_ID: Final = (1 << 53) - 1
_MAX_NAME_CHARS: Final = 256
_MAX_LIST_ITEMS: Final = 64
_MAX_HEADERS: Final = 64
MAX_ERROR_NESTING: Final = 32
"""Levels of objects and arrays a failure's error may hold, itself included: it is rendered again as the
app's problem+json, and a deeper one could only be a bug or an attack."""


@dataclass(frozen=True, slots=True)
class Hello:
    """Connector → edge, first frame: the versions it speaks and who it is."""

    versions: tuple[int, ...]
    connector_id: str
    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Welcome:
    """Edge → connector: the chosen version. The tunnel is open after this frame."""

    version: int
    edge_id: str
    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Request:
    """Edge → connector: one public API call on stream ``sid``."""

    sid: int
    request: TunnelRequest


@dataclass(frozen=True, slots=True)
class Response:
    """Connector → edge: the final answer to stream ``sid``."""

    sid: int
    response: TunnelResponse


@dataclass(frozen=True, slots=True)
class Failure:
    """Connector → edge: stream ``sid`` (request or attach) failed with an ``ApiError`` wire form."""

    sid: int
    error: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Cancel:
    """Edge → connector: the edge gave up on request ``sid`` (timeout, caller gone); do not answer."""

    sid: int


@dataclass(frozen=True, slots=True)
class Attach:
    """Edge → connector: open the agent's event stream as ``sid``, resuming after ``since``."""

    sid: int
    principal: Principal
    since: int | None


@dataclass(frozen=True, slots=True)
class Attached:
    """Connector → edge: the attachment ``sid`` is live."""

    sid: int


@dataclass(frozen=True, slots=True)
class Event:
    """Connector → edge: one event of attachment ``sid``."""

    sid: int
    event: AgentEvent


@dataclass(frozen=True, slots=True)
class Detach:
    """Either way: attachment ``sid`` is over. ``reason``: ``closed`` (edge: the app went away),
    ``ended`` (connector: the stream is finished), ``resync`` (a queue overflowed; the app must resume
    with ``?since=``). ``last_seq`` is the last event seq the sender put on the wire, if any."""

    sid: int
    reason: str
    last_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    nonce: str


@dataclass(frozen=True, slots=True)
class Pong:
    nonce: str


@dataclass(frozen=True, slots=True)
class Drain:
    """Either way: finish what you have, take nothing new; the sender closes when it is done."""


@dataclass(frozen=True, slots=True)
class Error:
    """Either way: a connection-level failure; the sender closes the connection after it."""

    code: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Batch:
    """Connector → edge, only with the ``batch`` capability: several event frames in one message
    (fewer WebSocket messages, TLS records and system calls when events come in bursts)."""

    events: tuple[Event, ...]


MAX_BATCH_EVENTS: Final = 1024
BATCH_CAPABILITY: Final = "batch"

Frame = (
    Hello
    | Welcome
    | Request
    | Response
    | Failure
    | Cancel
    | Attach
    | Attached
    | Event
    | Detach
    | Ping
    | Pong
    | Drain
    | Error
    | Batch
)

DETACH_REASONS: Final = frozenset({"closed", "ended", "resync"})


# --- encoding -------------------------------------------------------------------------------------


def encode_frame(frame: Frame) -> bytes:
    """The frame as one UTF-8 JSON text, in bytes: its length is its size on the wire. It leaves as a
    WebSocket *text* message (websockets: ``send(data, text=True)``). Raises ``ValueError`` for a number
    JSON cannot carry (NaN, infinities) or a failure nested deeper than :data:`MAX_ERROR_NESTING`, as
    for anything :func:`decode_frame` would refuse."""
    if isinstance(frame, Batch):
        return encode_batch([encode_frame(event) for event in frame.events])
    wire = _to_wire(frame)
    if isinstance(frame, Failure):
        # Free-form and rare: the careful encoder refuses NaN where orjson would write null.
        if not _nesting_at_most(wire["error"], MAX_ERROR_NESTING):
            raise ValueError(f"a failure's error may nest at most {MAX_ERROR_NESTING} levels")
        return _encode_carefully(wire)
    try:
        return orjson.dumps(wire)
    except orjson.JSONEncodeError:
        return _encode_carefully(wire)


def encode_batch(encoded_events: list[bytes]) -> bytes:
    """A ``batch`` frame around event frames that are already encoded (no second encoding pass)."""
    return b'{"type":"batch","events":[' + b",".join(encoded_events) + b"]}"


_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _encode_carefully(wire: dict[str, Any]) -> bytes:
    """The stdlib encoder, for what orjson will not write: keys that are not strings (spelled as strings),
    integers beyond 64 bits (in digits: the peer reads the nearest float), and text holding lone
    surrogates, which no UTF-8 text can carry and a peer refuses even escaped: each becomes U+FFFD."""
    text = json.dumps(wire, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return _LONE_SURROGATE.sub("\ufffd", text).encode()


def _nesting_at_most(value: object, limit: int) -> bool:
    """Whether ``value`` holds objects and arrays at most ``limit`` levels deep, itself included; without
    recursion, so that any depth is answered."""
    level: list[object] = [value]
    for _ in range(limit + 1):
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            return True
        level = [
            child for item in containers for child in (item.values() if isinstance(item, dict) else item)
        ]
    return False


def _principal_to_wire(principal: Principal) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "agent_id": principal.agent_id,
        "subject": principal.subject,
        "scopes": list(principal.scopes),
    }
    if principal.token is not None:
        wire["token"] = principal.token
    if principal.token_expires_at is not None:
        if not math.isfinite(principal.token_expires_at):
            raise ValueError("principal.token_expires_at: JSON carries finite numbers only")
        wire["token_expires_at"] = principal.token_expires_at
    return wire


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _to_wire(frame: Frame) -> dict[str, Any]:
    match frame:
        case Hello(versions, connector_id, capabilities):
            return {
                "type": "hello",
                "versions": list(versions),
                "connector_id": connector_id,
                "capabilities": list(capabilities),
            }
        case Welcome(version, edge_id, capabilities):
            return {
                "type": "welcome",
                "version": version,
                "edge_id": edge_id,
                "capabilities": list(capabilities),
            }
        case Request(sid, request):
            return {
                "type": "request",
                "sid": sid,
                "request_id": request.request_id,
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "headers": dict(request.headers),
                "body": _b64(request.body),
                "principal": None if request.principal is None else _principal_to_wire(request.principal),
            }
        case Response(sid, response):
            return {
                "type": "response",
                "sid": sid,
                "status": response.status,
                "headers": dict(response.headers),
                "body": _b64(response.body),
            }
        case Failure(sid, error):
            return {"type": "failure", "sid": sid, "error": dict(error)}
        case Cancel(sid):
            return {"type": "cancel", "sid": sid}
        case Attach(sid, principal, since):
            return {"type": "attach", "sid": sid, "principal": _principal_to_wire(principal), "since": since}
        case Attached(sid):
            return {"type": "attached", "sid": sid}
        case Event(sid, event):
            return {
                "type": "event",
                "sid": sid,
                "agent_id": event.agent_id,
                "seq": event.seq,
                "event_type": event.type,
                "json": event.json,
            }
        case Detach(sid, reason, last_seq):
            return {"type": "detach", "sid": sid, "reason": reason, "last_seq": last_seq}
        case Ping(nonce):
            return {"type": "ping", "nonce": nonce}
        case Pong(nonce):
            return {"type": "pong", "nonce": nonce}
        case Drain():
            return {"type": "drain"}
        case Error(code, detail):
            return {"type": "error", "code": code, "detail": detail}
        case Batch():
            raise TypeError("batches are encoded by encode_batch")  # pragma: no cover - see encode_frame
    raise TypeError(f"not a tunnel frame: {type(frame).__name__}")  # pragma: no cover - exhaustive


# --- decoding -------------------------------------------------------------------------------------


def _malformed(where: str, expected: str) -> NoReturn:
    raise ProtocolError("malformed_frame", f"{where}: expected {expected}")


def decode_frame(data: str | bytes, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Frame:
    """Parse one WebSocket message into a frame. Raises only :class:`ProtocolError`.

    Give it the message's bytes where the transport allows (websockets: ``recv(decode=False)``): a str is
    encoded to UTF-8 first."""
    if len(data) > max_frame_bytes:
        raise ProtocolError("frame_too_large", f"a frame may carry at most {max_frame_bytes} bytes")
    if isinstance(data, str):
        try:
            data = data.encode()
        except UnicodeEncodeError:  # lone surrogates
            raise ProtocolError("malformed_frame", "not a UTF-8 JSON text") from None
        if len(data) > max_frame_bytes:
            raise ProtocolError("frame_too_large", f"a frame may carry at most {max_frame_bytes} bytes")
    try:
        # orjson refuses invalid UTF-8 (lone surrogates included, even escaped), NaN and infinities
        # (numbers beyond the double range too), and nesting past 1,024 levels; it reads integers beyond
        # 64 bits as floats, which every integer member refuses (a failure's free-form extras keep them).
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("malformed_frame", "not a UTF-8 JSON text") from exc
    return _frame_of(obj)


def _frame_of(obj: object) -> Frame:
    """The frame a parsed JSON value stands for. Raises only :class:`ProtocolError`."""
    if not isinstance(obj, dict):
        _malformed("frame", "a JSON object")
    kind = obj.get("type")
    decoder = _DECODERS.get(kind) if isinstance(kind, str) else None
    if decoder is None:
        raise ProtocolError("unknown_frame", f"frame type {str(kind)[:40]!r} is not part of this protocol")
    return decoder(_Fields(obj, str(kind)))


class _Fields:
    """Typed, bounded access to one frame's members; every miss names ``type.field``."""

    __slots__ = ("_kind", "_obj")

    def __init__(self, obj: dict[str, Any], kind: str) -> None:
        self._obj = obj
        self._kind = kind

    def _where(self, key: str) -> str:
        return f"{self._kind}.{key}"

    def sid(self) -> int:
        value = self._obj.get("sid")
        if type(value) is not int or not 0 < value <= MAX_STREAM_ID:
            _malformed(self._where("sid"), f"an integer in 1..{MAX_STREAM_ID}")
        return value

    def int_(self, key: str, *, low: int = 0, high: int = MAX_STREAM_ID) -> int:
        value = self._obj.get(key)
        if type(value) is not int or not low <= value <= high:
            _malformed(self._where(key), f"an integer in {low}..{high}")
        return value

    def optional_int(self, key: str) -> int | None:
        return None if self._obj.get(key) is None else self.int_(key)

    def str_(self, key: str, *, max_chars: int = _MAX_NAME_CHARS, optional: bool = False) -> str:
        value = self._obj.get(key, "" if optional else None)
        if not isinstance(value, str) or len(value) > max_chars:
            _malformed(self._where(key), f"a string of at most {max_chars} characters")
        return value

    def str_tuple(self, key: str) -> tuple[str, ...]:
        value = self._obj.get(key, [])
        if (
            not isinstance(value, list)
            or len(value) > _MAX_LIST_ITEMS
            or not all(isinstance(item, str) and len(item) <= _MAX_NAME_CHARS for item in value)
        ):
            _malformed(self._where(key), f"a list of at most {_MAX_LIST_ITEMS} short strings")
        return tuple(value)

    def headers(self) -> dict[str, str]:
        value = self._obj.get("headers", {})
        if (
            not isinstance(value, dict)
            or len(value) > _MAX_HEADERS
            or not all(isinstance(item, str) for item in value.values())
        ):
            _malformed(self._where("headers"), f"an object of at most {_MAX_HEADERS} string values")
        return value

    def body(self) -> bytes:
        value = self._obj.get("body", "")
        if not isinstance(value, str):
            _malformed(self._where("body"), "a base64 string")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            _malformed(self._where("body"), "a base64 string")

    def principal(self, *, optional: bool) -> Principal | None:
        value = self._obj.get("principal")
        if value is None and optional:
            return None
        if not isinstance(value, dict):
            _malformed(self._where("principal"), "an object")
        inner = _Fields(value, f"{self._kind}.principal")
        agent_id = inner.str_("agent_id")
        if not agent_id:
            _malformed(inner._where("agent_id"), "a non-empty string")
        token = value.get("token")
        if token is not None and (not isinstance(token, str) or len(token) > 16_384):
            _malformed(inner._where("token"), "a string")
        expires = value.get("token_expires_at")
        if expires is not None and (type(expires) not in (int, float)):
            _malformed(inner._where("token_expires_at"), "a number")
        return Principal(
            agent_id=AgentId(agent_id),
            subject=inner.str_("subject", max_chars=1024),
            scopes=inner.str_tuple("scopes"),
            token=token,
            token_expires_at=None if expires is None else float(expires),
        )

    def error(self) -> dict[str, Any]:
        value = self._obj.get("error")
        if not isinstance(value, dict):
            _malformed(self._where("error"), "an object")
        inner = _Fields(value, f"{self._kind}.error")
        inner.int_("status", low=400, high=599)
        inner.str_("code")
        inner.str_("detail", max_chars=4096, optional=True)
        if not _nesting_at_most(value, MAX_ERROR_NESTING):
            _malformed(self._where("error"), f"at most {MAX_ERROR_NESTING} levels of nesting")
        return value


def _hello(f: _Fields) -> Frame:
    versions = f._obj.get("versions")
    if (
        not isinstance(versions, list)
        or not 0 < len(versions) <= _MAX_LIST_ITEMS
        or not all(type(v) is int and 0 < v <= MAX_STREAM_ID for v in versions)
    ):
        _malformed("hello.versions", f"a non-empty list of integers in 1..{MAX_STREAM_ID}")
    return Hello(tuple(versions), f.str_("connector_id"), f.str_tuple("capabilities"))


def _welcome(f: _Fields) -> Frame:
    return Welcome(f.int_("version", low=1), f.str_("edge_id"), f.str_tuple("capabilities"))


def _request(f: _Fields) -> Frame:
    method = f.str_("method", max_chars=16)
    path = f.str_("path", max_chars=4096)
    if not method.isalpha() or not path.startswith("/"):
        _malformed("request.method/path", "an HTTP method and an absolute path")
    request = TunnelRequest(
        request_id=f.str_("request_id"),
        method=method.upper(),
        path=path,
        query=f.str_("query", max_chars=8192, optional=True),
        headers=f.headers(),
        body=f.body(),
        principal=f.principal(optional=True),
    )
    return Request(f.sid(), request)


def _response(f: _Fields) -> Frame:
    response = TunnelResponse(status=f.int_("status", low=100, high=599), headers=f.headers(), body=f.body())
    return Response(f.sid(), response)


def _failure(f: _Fields) -> Frame:
    return Failure(f.sid(), f.error())


def _attach(f: _Fields) -> Frame:
    principal = f.principal(optional=False)
    assert principal is not None  # optional=False never returns None
    return Attach(f.sid(), principal, f.optional_int("since"))


def _event(f: _Fields) -> Frame:
    agent_id = f.str_("agent_id")
    event = AgentEvent(
        agent_id=AgentId(agent_id),
        seq=f.int_("seq"),
        type=f.str_("event_type", max_chars=64),
        json=f.str_("json", max_chars=DEFAULT_MAX_FRAME_BYTES),
    )
    return Event(f.sid(), event)


def _detach(f: _Fields) -> Frame:
    reason = f.str_("reason", max_chars=16)
    if reason not in DETACH_REASONS:
        _malformed("detach.reason", " or ".join(sorted(DETACH_REASONS)))
    return Detach(f.sid(), reason, f.optional_int("last_seq"))


def _batch(f: _Fields) -> Frame:
    items = f._obj.get("events")
    if not isinstance(items, list) or not 0 < len(items) <= MAX_BATCH_EVENTS:
        _malformed("batch.events", f"a list of 1..{MAX_BATCH_EVENTS} event frames")
    events: list[Event] = []
    for item in items:
        if not isinstance(item, dict) or item.get("type") != "event":
            _malformed("batch.events", "event frames only")
        event = _event(_Fields(item, "batch.event"))
        assert isinstance(event, Event)
        events.append(event)
    return Batch(tuple(events))


def _error(f: _Fields) -> Frame:
    return Error(f.str_("code"), f.str_("detail", max_chars=4096, optional=True))


_DECODERS: Final[dict[str, Callable[[_Fields], Frame]]] = {
    "hello": _hello,
    "welcome": _welcome,
    "request": _request,
    "response": _response,
    "failure": _failure,
    "cancel": lambda f: Cancel(f.sid()),
    "attach": _attach,
    "attached": lambda f: Attached(f.sid()),
    "event": _event,
    "detach": _detach,
    "ping": lambda f: Ping(f.str_("nonce", max_chars=64)),
    "pong": lambda f: Pong(f.str_("nonce", max_chars=64)),
    "drain": lambda f: Drain(),
    "error": _error,
    "batch": _batch,
}
