"""Finesse's asynchronous refusals → the public API's problems (stable codes, Finesse's words in extra)."""

from __future__ import annotations

from connector.sessions.pending import FinesseRejected
from connector.sessions.views import api_error_view
from edge.tunnel.errors import ApiError, Conflict, Forbidden, UpstreamError

# errorType (lower case) → (error class, our stable code, what to tell the caller)
_BY_ERROR_TYPE: dict[str, tuple[type[ApiError], str, str]] = {
    "invalid state": (Conflict, "invalid_state", "the agent's or the call's state does not allow this"),
    "mode not allowed": (Forbidden, "mode_not_allowed", "the agent may not sign in in this mode"),
    "invalid device": (Conflict, "invalid_device", "Finesse does not accept this device"),
    "device busy": (Conflict, "device_busy", "the device is in use"),
    "call operation failure": (Conflict, "call_operation_failed", "Finesse could not do this to the call"),
}


def is_invalid_device(rejected: FinesseRejected) -> bool:
    return any(error.error_type.strip().lower() == "invalid device" for error in rejected.errors)


def problem_for(rejected: FinesseRejected) -> ApiError:
    """The error the caller receives for an asynchronous refusal."""
    first = rejected.errors[0] if rejected.errors else None
    error_type = first.error_type.strip().lower() if first is not None else ""
    cls, code, detail = _BY_ERROR_TYPE.get(
        error_type, (UpstreamError, "finesse_rejected", "Finesse refused the request")
    )
    extra: dict[str, object] = {"request_id": rejected.request_id}
    if first is not None:
        # Finesse's own words, bounded: they end up in a public response.
        extra.update({key: str(value)[:512] for key, value in api_error_view(first).items()})
    return cls(code, detail, **extra)
