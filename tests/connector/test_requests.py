"""Routing and request bodies (sans-I/O): hostile input gives only 4xx with a stable code."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.sessions.backoff import reconnect_delay_s
from connector.sessions.bodies import DialogActionBody, SignInBody, StateBody, parse_body
from connector.sessions.routes import match_route
from edge.tunnel.errors import ApiError, BadRequest, NotFound


@pytest.mark.parametrize(
    ("method", "path", "operation", "dialog_id"),
    [
        ("GET", "/api/v1/agent", "get_agent", None),
        ("POST", "/api/v1/agent/session", "sign_in", None),
        ("DELETE", "/api/v1/agent/session/", "sign_out", None),
        ("PUT", "/api/v1/agent/state", "change_state", None),
        ("GET", "/api/v1/reason-codes", "reason_codes", None),
        ("GET", "/api/v1/wrap-up-reasons", "wrap_up_reasons", None),
        ("GET", "/api/v1/dialogs", "list_dialogs", None),
        ("POST", "/api/v1/dialogs", "make_call", None),
        ("post", "/api/v1/dialogs/12345/actions", "dialog_action", "12345"),
    ],
)
def test_routes(method: str, path: str, operation: str, dialog_id: str | None) -> None:
    route = match_route(method, path)
    assert (route.operation, route.dialog_id) == (operation, dialog_id)


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/api/v2/agent", "route_not_found"),
        ("GET", "/finesse/api/User/1001", "route_not_found"),
        ("PUT", "/api/v1/agent", "method_not_allowed"),
        ("GET", "/api/v1/dialogs/1/actions", "method_not_allowed"),
        ("POST", "/api/v1/dialogs/a%2Fb/actions", "dialog_not_found"),
        ("POST", "/api/v1/dialogs/../actions", "dialog_not_found"),
    ],
)
def test_route_errors(method: str, path: str, code: str) -> None:
    with pytest.raises((NotFound, BadRequest)) as caught:
        match_route(method, path)
    assert caught.value.code == code


def test_bodies_validate_and_hide_the_password() -> None:
    body = parse_body(SignInBody, b'{"extension": "1001", "finesse_password": "s3cret"}')
    assert body.finesse_password is not None
    assert "s3cret" not in repr(body)
    with pytest.raises(BadRequest) as caught:
        parse_body(SignInBody, b'{"extension": 7, "finesse_password": "s3cret", "x": 1}')
    assert caught.value.code == "invalid_body"
    assert "s3cret" not in str(caught.value.to_wire())
    assert {e["field"] for e in caught.value.extra["errors"]} == {"extension", "x"}
    with pytest.raises(BadRequest):
        parse_body(StateBody, b"")  # an empty body is {}, which lacks the state
    with pytest.raises(BadRequest):
        parse_body(DialogActionBody, b'{"action": "EXPLODE"}')


@given(st.binary(max_size=300))
def test_any_bytes_give_a_body_or_invalid_body(raw: bytes) -> None:
    codes = set()
    for model in (SignInBody, StateBody, DialogActionBody):
        try:
            parse_body(model, raw)
        except BadRequest as error:
            codes.add(error.code)
    assert codes <= {"invalid_body"}


@given(st.text(max_size=80), st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "X"]))
def test_any_path_routes_or_gives_a_4xx(path: str, method: str) -> None:
    status = 200
    try:
        match_route(method, "/api/v1/" + path)
    except ApiError as error:
        status = error.status
    assert status in (200, 400, 404)


def test_backoff_grows_caps_and_jitters() -> None:
    rng = random.Random(7)
    delays = [reconnect_delay_s(n, base_s=0.5, max_s=8, jitter=0, rng=rng) for n in range(1, 8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    jittered = {reconnect_delay_s(3, base_s=0.5, max_s=8, jitter=0.2, rng=rng) for _ in range(50)}
    assert len(jittered) > 1
    assert all(1.6 <= delay <= 2.4 for delay in jittered)
    assert reconnect_delay_s(10_000, base_s=0.5, max_s=8, jitter=0.5, rng=rng) <= 8
