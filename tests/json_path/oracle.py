"""The tunnel frame codec as it was with the stdlib ``json`` module (CPython's C parser, ASCII output), kept
as the oracle the current codec is compared with: what a peer still running it writes and reads."""

from __future__ import annotations

import json
from typing import NoReturn

from edge.tunnel import frames as f
from edge.tunnel.errors import ProtocolError


def _reject_constant(name: str) -> NoReturn:
    raise ProtocolError("malformed_frame", f"frame: expected finite numbers, not {name}")


def stdlib_decode(data: str | bytes, *, max_frame_bytes: int = f.DEFAULT_MAX_FRAME_BYTES) -> f.Frame:
    """The frame the stdlib implementation made of ``data``, or its ``ProtocolError``."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > max_frame_bytes:
        raise ProtocolError("frame_too_large", f"a frame may carry at most {max_frame_bytes} bytes")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        obj = json.loads(text, parse_constant=_reject_constant)
    except ProtocolError:
        raise
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("malformed_frame", "not a UTF-8 JSON text") from exc
    return f._frame_of(obj)


def stdlib_encode(frame: f.Frame) -> str:
    """The frame as the stdlib implementation wrote it: compact, ASCII-only."""
    if isinstance(frame, f.Batch):
        return '{"type":"batch","events":[' + ",".join(stdlib_encode(event) for event in frame.events) + "]}"
    return json.dumps(f._to_wire(frame), separators=(",", ":"), allow_nan=False)
