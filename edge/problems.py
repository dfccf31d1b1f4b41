"""RFC 9457 problem+json: how every ``ApiError`` reaches a client of the public API.

The body carries ``type``, ``title``, ``status``, ``detail`` and the stable ``code``, plus the error's
extras. Anything that is not an ``ApiError`` becomes a generic 500 without details: its text may hold
internal names, so only the log sees it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from starlette.types import Send

from edge.tunnel.errors import ApiError

PROBLEM_CONTENT_TYPE = "application/problem+json"
_TYPE_BASE = "https://fingress.dev/problems/"
# Extras the client must never see through a problem body, whoever set them.
_RESERVED = frozenset({"type", "title", "status", "detail", "code"})


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The problem+json document for ``status``/``code``; ``extra`` keys are added when JSON-able."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": _TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    for key, value in extra.items():
        if key not in _RESERVED:
            body[key] = value
    return body


def encode_problem(error: ApiError) -> bytes:
    """The encoded body for ``error``; extras that cannot be encoded are dropped, never fatal."""
    try:
        return json.dumps(problem_body(error.status, error.code, error.detail, **error.extra)).encode()
    except (TypeError, ValueError):
        return json.dumps(problem_body(error.status, error.code, error.detail)).encode()


def problem_headers(error: ApiError, body: bytes) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    retry_after = error.extra.get("retry_after_s")
    if isinstance(retry_after, int | float) and retry_after >= 0:
        headers.append((b"retry-after", str(max(1, int(retry_after + 0.999))).encode()))
    if error.status == 401:
        headers.append((b"www-authenticate", b'Bearer error="invalid_token"'))
    return headers


async def send_problem(
    send: Send, error: ApiError, extra_headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Send ``error`` as a complete HTTP response on a raw ASGI ``send``."""
    body = encode_problem(error)
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [*problem_headers(error, body), *extra_headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


class InternalError(ApiError):
    """The generic 500 an unexpected exception becomes; says nothing about the cause."""

    status = 500

    def __init__(self) -> None:
        super().__init__("internal_error", "The edge could not handle the request.")


class UriTooLong(ApiError):
    """414: the request target exceeds the policy's URL limit."""

    status = 414


class HeadersTooLarge(ApiError):
    """431: the request headers exceed the policy's header limit."""

    status = 431


class UnsupportedMediaType(ApiError):
    """415: a request body that is not JSON."""

    status = 415
