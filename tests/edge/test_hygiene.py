"""Bad input of every kind is a 4xx problem (never a 500), security headers and CORS, request ids, and
the access and audit log lines (with nothing secret in them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog

from tests.edge.conftest import Edge, EdgeFactory
from tests.support.timing import seconds


def assert_problem(response: object, status: int, code: str) -> None:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert "Traceback" not in response.text


async def test_size_limits(edge: Edge) -> None:
    async with asyncio.timeout(seconds(10)):
        big = {"extension": "1", "finesse_password": "x" * 20_000}
        assert_problem(
            await edge.client.post("/api/v1/agent/session", json=big, headers=edge.auth()),
            413,
            "body_too_large",
        )

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(40):
                yield b" " * 1024

        streamed = await edge.client.post(
            "/api/v1/agent/session",
            content=chunks(),
            headers={"content-type": "application/json", **edge.auth()},
        )
        assert "content-length" not in streamed.request.headers
        assert_problem(streamed, 413, "body_too_large")
        assert_problem(
            await edge.client.get("/api/v1/agent", headers={"x-padding": "p" * 9000, **edge.auth()}),
            431,
            "headers_too_large",
        )
        assert_problem(
            await edge.client.get("/api/v1/agent?" + "q" * 3000, headers=edge.auth()), 414, "uri_too_long"
        )
    assert edge.upstream.requests == []


async def test_malformed_and_mistyped_bodies(edge: Edge) -> None:
    cases: list[tuple[str, str, bytes | None, str, int, str]] = [
        ("POST", "/api/v1/agent/session", b"{not json", "application/json", 400, "invalid_body"),
        ("POST", "/api/v1/agent/session", b'{"extension": 1001}', "application/json", 400, "invalid_body"),
        (
            "POST",
            "/api/v1/agent/session",
            b'{"extension": "1", "x": 1}',
            "application/json",
            400,
            "invalid_body",
        ),
        ("POST", "/api/v1/agent/session", b"[]", "application/json", 400, "invalid_body"),
        ("POST", "/api/v1/agent/session", b'{"extension": "1"}', "text/plain", 415, "unsupported_media_type"),
        ("POST", "/api/v1/agent/session", None, "application/json", 400, "missing_body"),
        ("PUT", "/api/v1/agent/state", b'{"state": "TALKING"}', "application/json", 400, "invalid_body"),
        (
            "PUT",
            "/api/v1/agent/state",
            b'{"state": "READY", "reason_code_id": "3"}',
            "application/json",
            400,
            "invalid_body",
        ),
        ("POST", "/api/v1/dialogs", b'{"to": "12; DROP"}', "application/json", 400, "invalid_body"),
        (
            "POST",
            "/api/v1/dialogs/1/actions",
            b'{"action": "SEND_DTMF"}',
            "application/json",
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/dialogs/1/actions",
            b'{"action": "ANSWER", "to": "1"}',
            "application/json",
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/dialogs/1/actions",
            b'{"action": "UPDATE_CALL_DATA", "call_variables": {"callVariable11": "x"}}',
            "application/json",
            400,
            "invalid_body",
        ),
        ("GET", "/api/v1/agent", b'{"a": 1}', "application/json", 400, "unexpected_body"),
        ("GET", "/api/v1/reason-codes", None, "", 400, "invalid_query"),
        ("GET", "/api/v1/reason-codes?category=BOGUS", None, "", 400, "invalid_query"),
        ("GET", "/api/v1/reason-codes?category=LOGOUT&category=LOGOUT", None, "", 400, "invalid_query"),
        ("GET", "/api/v1/dialogs?x=1", None, "", 400, "unexpected_query"),
    ]
    async with asyncio.timeout(seconds(10)):
        for method, url, body, content_type, status, code in cases:
            headers = {**edge.auth(), **({"content-type": content_type} if content_type else {})}
            response = await edge.client.request(method, url, content=body, headers=headers)
            assert_problem(response, status, code)
    assert edge.upstream.requests == []


async def test_validation_errors_name_fields_but_never_echo_values(edge: Edge) -> None:
    body = (
        b'{"extension": "1", "finesse_password": 12345678, "mobile_agent": {"mode": "X", "dial_number": "1"}}'
    )
    async with asyncio.timeout(seconds(10)):
        response = await edge.client.post(
            "/api/v1/agent/session", content=body, headers={"content-type": "application/json", **edge.auth()}
        )
    assert_problem(response, 400, "invalid_body")
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"finesse_password", "mobile_agent.mode"}
    assert "12345678" not in response.text


async def test_unknown_paths_and_methods_are_404_before_anything(edge: Edge) -> None:
    async with asyncio.timeout(seconds(10)):
        for method, url in [
            ("GET", "/"),
            ("GET", "/api/v2/agent"),
            ("PATCH", "/api/v1/agent"),
            ("HEAD", "/api/v1/agent"),
            ("OPTIONS", "/api/v1/agent"),
            ("DELETE", "/api/v1/dialogs"),
            ("POST", "/api/v1/dialogs/..%2F..%2Fadmin/actions"),
            ("POST", "/api/v1/dialogs/" + "9" * 65 + "/actions"),
            ("GET", "/api/v1/agent/"),
        ]:
            response = await edge.client.request(method, url, headers=edge.auth())
            assert response.status_code == 404, (method, url)
            if method != "HEAD":
                assert_problem(response, 404, "not_found")
    assert edge.upstream.requests == []
    assert await edge.metric("fingress_edge_auth_failures_total", reason="missing") == 0


async def test_security_headers_on_every_answer(edge: Edge) -> None:
    async with asyncio.timeout(seconds(10)):
        for response in (
            await edge.client.get("/api/v1/agent", headers=edge.auth()),
            await edge.client.get("/api/v1/agent"),
            await edge.client.get("/nowhere"),
        ):
            headers = response.headers
            assert headers["strict-transport-security"] == "max-age=31536000"
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["x-frame-options"] == "DENY"
            assert headers["content-security-policy"].startswith("default-src 'none'")
            assert "server" not in headers


async def test_cors_only_for_configured_origins(make_edge: EdgeFactory) -> None:
    edge: Edge = await make_edge(http={"cors_origins": ["https://app.example.com"]})
    preflight = {"access-control-request-method": "PUT", "access-control-request-headers": "authorization"}
    async with asyncio.timeout(seconds(10)):
        allowed = await edge.client.options(
            "/api/v1/agent/state", headers={"origin": "https://app.example.com", **preflight}
        )
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "PUT" in allowed.headers["access-control-allow-methods"]
        denied = await edge.client.options(
            "/api/v1/agent/state", headers={"origin": "https://evil.test", **preflight}
        )
        assert_problem(denied, 403, "cors_origin_denied")
        assert "access-control-allow-origin" not in denied.headers
        simple = await edge.client.get(
            "/api/v1/agent", headers={"origin": "https://app.example.com", **edge.auth()}
        )
        assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
        refused = await edge.client.get("/api/v1/agent", headers={"origin": "https://app.example.com"})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "https://app.example.com"
        other = await edge.client.get("/api/v1/agent", headers={"origin": "https://evil.test", **edge.auth()})
        assert "access-control-allow-origin" not in other.headers


async def test_request_id_is_kept_when_sane_and_replaced_when_not(edge: Edge) -> None:
    async with asyncio.timeout(seconds(10)):
        kept = await edge.client.get(
            "/api/v1/agent", headers={"x-request-id": "app-req-000123", **edge.auth()}
        )
        replaced = await edge.client.get(
            "/api/v1/agent", headers={"x-request-id": "bad id\t<script>", **edge.auth()}
        )
    assert kept.headers["x-request-id"] == "app-req-000123"
    assert edge.upstream.requests[0].request_id == "app-req-000123"
    assert replaced.headers["x-request-id"] != "bad id\t<script>"
    assert len(replaced.headers["x-request-id"]) == 24


async def test_access_and_audit_lines_without_secrets(edge: Edge) -> None:
    headers = edge.auth("1001")
    token = headers["authorization"].removeprefix("Bearer ")
    with structlog.testing.capture_logs() as logs:
        async with asyncio.timeout(seconds(10)):
            await edge.client.post(
                "/api/v1/agent/session",
                json={"extension": "1001", "finesse_password": "pw-123"},
                headers=headers,
            )
            await edge.client.put("/api/v1/agent/state", json={"state": "READY"}, headers=headers)
            await edge.client.post("/api/v1/dialogs/42/actions", json={"action": "HOLD"}, headers=headers)
            await edge.client.delete("/api/v1/agent/session", headers=headers)
            await edge.client.get("/api/v1/dialogs", headers=headers)
            ticket = (await edge.client.post("/api/v1/events/ticket", headers=headers)).json()["ticket"]
    audits = [entry for entry in logs if entry["event"] == "audit"]
    assert [(a["action"], a["agent_id"], a["outcome_status"]) for a in audits] == [
        ("sign_in", "1001", 200),
        ("state_change", "1001", 200),
        ("dialog_action", "1001", 200),
        ("sign_out", "1001", 200),
    ]
    assert audits[2]["dialog_action"] == "HOLD"
    assert audits[2]["dialog_id"] == "42"
    access = [entry for entry in logs if entry["event"] == "request_handled"]
    assert len(access) == 6
    assert {entry["auth_failure"] for entry in access} == {None}
    assert access[-1]["route"] == "/api/v1/events/ticket"
    assert {entry["status"] for entry in access} == {200, 201}
    text = repr(logs)
    for secret in (token, "pw-123", ticket):
        assert secret not in text


async def test_audit_line_records_refused_actions(make_edge: EdgeFactory) -> None:
    from edge.tunnel.errors import UpstreamError
    from edge.tunnel.messages import TunnelRequest, TunnelResponse
    from tests.edge.fakes import FakeUpstream

    async def refuse(request: TunnelRequest) -> TunnelResponse:
        raise UpstreamError("finesse_refused", "Invalid State", error_type="Invalid State")

    edge: Edge = await make_edge(FakeUpstream(handler=refuse))
    with structlog.testing.capture_logs() as logs:
        async with asyncio.timeout(seconds(10)):
            response = await edge.client.put(
                "/api/v1/agent/state", json={"state": "READY"}, headers=edge.auth()
            )
    assert_problem(response, 502, "finesse_refused")
    assert response.json()["error_type"] == "Invalid State"
    audits = [entry for entry in logs if entry["event"] == "audit"]
    assert [(a["action"], a["outcome_status"]) for a in audits] == [("state_change", 502)]


async def test_refused_token_reason_is_in_the_access_line(edge: Edge) -> None:
    with structlog.testing.capture_logs() as logs:
        async with asyncio.timeout(seconds(10)):
            await edge.client.get("/api/v1/agent", headers=edge.auth(lifetime_s=-60))
    (line,) = [entry for entry in logs if entry["event"] == "request_handled"]
    assert (line["status"], line["auth_failure"], line["agent_id"]) == (401, "expired", None)


async def test_refused_attempts_are_audited_too(make_edge: EdgeFactory) -> None:
    edge: Edge = await make_edge(rate_limits={"sign_in": "1/minute"})
    with structlog.testing.capture_logs() as logs:
        async with asyncio.timeout(seconds(10)):
            await edge.client.post("/api/v1/agent/session", json={"extension": "1"}, headers=edge.auth())
            await edge.client.post("/api/v1/agent/session", json={"extension": "1"}, headers=edge.auth())
            await edge.client.post("/api/v1/dialogs/7/actions", json={"action": "JUMP"}, headers=edge.auth())
            await edge.client.put("/api/v1/agent/state", json={"state": "READY"})
    audits = [(a["action"], a["agent_id"], a["outcome_status"]) for a in logs if a["event"] == "audit"]
    assert audits == [
        ("sign_in", "1001", 200),
        ("sign_in", "1001", 429),
        ("dialog_action", "1001", 400),
        ("state_change", None, 401),
    ]
