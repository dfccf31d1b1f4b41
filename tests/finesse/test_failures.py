"""Finesse's synchronous refusals map onto the project's error tree with stable codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.finesse.errors import AccountLocked, SideOutOfService
from connector.finesse.failures import error_for_response
from edge.tunnel.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unavailable,
    UpstreamError,
)
from tests.finesse import documents


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (400, documents.api_errors("Parameter Missing", "reasonCodeId"), BadRequest, "finesse_bad_request"),
        (400, documents.api_errors("Invalid Input", "mode"), BadRequest, "finesse_bad_request"),
        (
            401,
            documents.api_errors("Authorization Failure", "Unauthorized"),
            Unauthorized,
            "finesse_auth_failed",
        ),
        (401, documents.BAD_CREDENTIALS_HTML, Unauthorized, "finesse_auth_failed"),
        (401, b"", Unauthorized, "finesse_auth_failed"),
        (
            401,
            documents.api_errors("Unauthorized", "The account is locked"),
            AccountLocked,
            "finesse_account_locked",
        ),
        (401, b"<html><body>User account LOCKED OUT</body></html>", AccountLocked, "finesse_account_locked"),
        (
            403,
            documents.api_errors("Unauthorized", "ACCOUNT_LOCKED"),
            AccountLocked,
            "finesse_account_locked",
        ),
        (401, b"<html>your IP is blocked; unlock via admin</html>", Unauthorized, "finesse_auth_failed"),
        (
            403,
            documents.api_errors("Invalid Authorization User Specified", "x"),
            Forbidden,
            "finesse_forbidden",
        ),
        (404, documents.api_errors("Not Found", "Dialog"), NotFound, "finesse_not_found"),
        (409, b"", Conflict, "finesse_conflict"),
        (500, documents.api_errors("Internal Server Error", "boom"), UpstreamError, "finesse_server_error"),
        (501, documents.api_errors("Not Implemented", "x"), UpstreamError, "finesse_not_implemented"),
        (
            503,
            documents.api_errors("Service Unavailable", "SERVER_OUT_OF_SERVICE"),
            SideOutOfService,
            "finesse_out_of_service",
        ),
        (503, b"", SideOutOfService, "finesse_out_of_service"),
        (302, b"", UpstreamError, "finesse_unexpected_status"),
        (418, b"<ApiErrors><ApiError", UpstreamError, "finesse_unexpected_status"),
    ],
)
def test_status_and_body_map_to_a_stable_error(
    status: int, body: bytes, kind: type[ApiError], code: str
) -> None:
    error = error_for_response(status=status, body=body, side="A")
    assert type(error) is kind
    assert error.code == code
    assert "A" in error.detail or status not in (503,)


def test_finesse_words_travel_in_extra_and_on_the_wire() -> None:
    body = documents.api_errors("Parameter Missing", "reasonCodeId is required", "state")
    error = error_for_response(status=400, body=body, side="B")
    assert error.extra == {
        "error_type": "Parameter Missing",
        "error_message": "reasonCodeId is required",
        "error_data": "state",
    }
    wire = error.to_wire()
    assert wire["status"] == 400
    assert wire["error_type"] == "Parameter Missing"
    assert "Parameter Missing" in error.detail


def test_locked_and_out_of_service_are_unavailable() -> None:
    assert isinstance(error_for_response(status=401, body=b"locked", side="A"), Unavailable)
    assert error_for_response(status=503, body=b"", side="B").status == 503


def test_unexpected_status_keeps_the_status_without_overriding_ours() -> None:
    error = error_for_response(status=302, body=b"", side="A")
    assert error.to_wire()["status"] == 502
    assert error.extra["finesse_status"] == 302


@given(status=st.integers(100, 999), body=st.binary(max_size=200))
def test_any_answer_maps_to_an_api_error(status: int, body: bytes) -> None:
    error = error_for_response(status=status, body=body, side="A")
    assert isinstance(error, ApiError)
    assert error.code.startswith("finesse_")
