"""The two error shapes Finesse uses, as the emulator raises and publishes them.

Synchronous errors are classes of the project tree (:mod:`edge.tunnel.errors`) whose ``extra`` carries
Finesse's ``error_type`` and ``error_data``; the REST layer renders them as ``<ApiErrors>``. Asynchronous
errors are :class:`AsyncError` values the cluster publishes in an ``apiErrors`` notification after the
REST call has already been answered 202.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.tunnel.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    NotFound,
    Unauthorized,
    Unavailable,
)


def parameter_missing(name: str) -> BadRequest:
    return BadRequest(
        "parameter_missing", f"{name} is required", error_type="Parameter Missing", error_data=name
    )


def invalid_input(name: str, detail: str) -> BadRequest:
    return BadRequest("invalid_input", detail, error_type="Invalid Input", error_data=name)


def unauthorized(detail: str = "Invalid user credentials") -> Unauthorized:
    return Unauthorized("unauthorized", detail, error_type="Unauthorized", error_data="")


def account_locked() -> Unauthorized:
    return Unauthorized(
        "account_locked", "The account is locked", error_type="Unauthorized", error_data="ACCOUNT_LOCKED"
    )


def forbidden(detail: str) -> Forbidden:
    return Forbidden("forbidden", detail, error_type="Unauthorized", error_data="")


def not_found(what: str) -> NotFound:
    return NotFound("not_found", f"{what} not found", error_type="Not Found", error_data=what)


def out_of_service() -> Unavailable:
    return Unavailable(
        "server_out_of_service",
        "SERVER_OUT_OF_SERVICE",
        error_type="Service Unavailable",
        error_data="SERVER_OUT_OF_SERVICE",
    )


def internal_error() -> ApiError:
    return ApiError(
        "internal_error", "Internal Server Error", error_type="Internal Server Error", error_data=""
    )


@dataclass(frozen=True)
class AsyncError:
    """An ``apiError`` inside a notification (lower-case element names, peripheral fields optional)."""

    error_type: str
    error_message: str
    error_data: str
    peripheral_error_code: str = ""
    peripheral_error_msg: str = ""
    peripheral_error_text: str = ""


INVALID_STATE = AsyncError("Invalid State", "CF_INVALID_OBJECT_STATE", "22")
MODE_NOT_ALLOWED = AsyncError("Mode Not Allowed", "CF_MOBILE_AGENT_MODE_NOT_ALLOWED", "0")
INVALID_DEVICE = AsyncError(
    "Invalid Device",
    "CF_INVALID_LOGON_DEVICE_SPECIFIED",
    "260",
    peripheral_error_code="10125",
    peripheral_error_msg="PERERR_TELDRIVE_NODEVICETARGETFORNETTARGETID",
    peripheral_error_text=(
        "A device target with the network target ID specified cannot be found. This could indicate either "
        "an internal error or a configuration error"
    ),
)
DEVICE_BUSY = AsyncError("Device Busy", "CF_DEVICE_BUSY", "0")
# Emulator assumption (no capture): leaving wrap-up without the wrap-up reason that the agent's
# REQUIRED_WITH_WRAP_UP_DATA setting demands. An ``Invalid State`` like any refused state change, told
# apart by its errorMessage / errorData.
WRAP_UP_DATA_REQUIRED = AsyncError("Invalid State", "CF_WRAPUP_DATA_REQUIRED", "WRAP_UP_DATA_REQUIRED")


def call_operation_failure(detail: str) -> AsyncError:
    """A dialog action that the CTI server refused; ``detail`` names why (errorData)."""
    return AsyncError("Call Operation Failure", "CF_GENERIC_UNSPECIFIED_REJECTION", detail)
