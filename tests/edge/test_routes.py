"""Every route of the v1 table through a real edge (uvicorn over TLS) to the fake connector and back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from edge.tunnel.errors import Conflict, Unavailable, UpstreamTimeout
from edge.tunnel.messages import TunnelRequest, TunnelResponse
from tests.edge.conftest import Edge, EdgeFactory
from tests.edge.fakes import FakeUpstream

FORWARDED: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/api/v1/agent", None, ""),
    ("POST", "/api/v1/agent/session", {"extension": "1001001"}, ""),
    (
        "POST",
        "/api/v1/agent/session",
        {
            "extension": "5001",
            "device_id": "SEP0001",
            "mobile_agent": {"mode": "NAILED_CONNECTION", "dial_number": "+4930123"},
        },
        "",
    ),
    ("DELETE", "/api/v1/agent/session", {"reason_code_id": "3"}, ""),
    ("DELETE", "/api/v1/agent/session", None, ""),
    ("PUT", "/api/v1/agent/state", {"state": "READY"}, ""),
    ("PUT", "/api/v1/agent/state", {"state": "NOT_READY", "reason_code_id": "16"}, ""),
    ("GET", "/api/v1/reason-codes?category=NOT_READY", None, "category=NOT_READY"),
    ("GET", "/api/v1/reason-codes?category=LOGOUT", None, "category=LOGOUT"),
    ("GET", "/api/v1/wrap-up-reasons", None, ""),
    ("GET", "/api/v1/dialogs", None, ""),
    ("POST", "/api/v1/dialogs", {"to": "+4930123456"}, ""),
    ("POST", "/api/v1/dialogs/16777216/actions", {"action": "ANSWER"}, ""),
    ("POST", "/api/v1/dialogs/16777216/actions", {"action": "CONSULT_CALL", "to": "2002"}, ""),
    ("POST", "/api/v1/dialogs/16777216/actions", {"action": "TRANSFER_SST", "to": "2002"}, ""),
    ("POST", "/api/v1/dialogs/16777216/actions", {"action": "SEND_DTMF", "digits": "12#*"}, ""),
    (
        "POST",
        "/api/v1/dialogs/16777216/actions",
        {
            "action": "UPDATE_CALL_DATA",
            "call_variables": {"callVariable1": "x", "user.case": "7"},
            "wrap_up_reason": "Sale",
        },
        "",
    ),
]


async def test_every_route_forwards_principal_and_body_and_relays_answer(edge: Edge) -> None:
    for method, url, body, query in FORWARDED:
        async with asyncio.timeout(10):
            response = await edge.client.request(method, url, json=body, headers=edge.auth("1001"))
        assert response.status_code == 200, (method, url, response.text)
        answer = response.json()
        assert answer == {
            "method": method,
            "path": url.split("?")[0],
            "query": query,
            "agent_id": "1001",
            "body": body,
        }, (method, url)
        forwarded = edge.upstream.requests[-1]
        assert forwarded.principal is not None
        assert forwarded.principal.subject == "user-1001"
        assert forwarded.principal.token is None  # forward_token is off by default
        assert forwarded.request_id == response.headers["x-request-id"]
    assert len(edge.upstream.requests) == len(FORWARDED)


async def test_password_is_forwarded_to_the_connector_but_never_logged(edge: Edge) -> None:
    import structlog

    with structlog.testing.capture_logs() as logs:
        async with asyncio.timeout(10):
            response = await edge.client.post(
                "/api/v1/agent/session",
                json={"extension": "1001", "finesse_password": "s3cret-pw"},
                headers=edge.auth(),
            )
    assert response.status_code == 200
    assert json.loads(edge.upstream.requests[-1].body)["finesse_password"] == "s3cret-pw"
    assert "s3cret-pw" not in repr(logs)
    assert "s3cret-pw" not in repr(edge.upstream.requests[-1].principal)


async def test_bearer_token_forwarded_only_when_policy_says_so(make_edge: EdgeFactory) -> None:
    edge: Edge = await make_edge(oauth={"forward_token": True})
    headers = edge.auth("1001")
    async with asyncio.timeout(10):
        await edge.client.get("/api/v1/agent", headers=headers)
    principal = edge.upstream.requests[-1].principal
    assert principal is not None
    assert principal.token == headers["authorization"].removeprefix("Bearer ")
    assert principal.token not in repr(principal)


async def test_connector_status_headers_and_body_are_relayed(make_edge: EdgeFactory) -> None:
    async def conflict(request: TunnelRequest) -> TunnelResponse:
        body = {"code": "device_selection_required", "devices": [{"device_id": "SEP1"}]}
        headers = {"Content-Type": "application/problem+json", "Set-Cookie": "x=1", "Retry-After": "3"}
        return TunnelResponse(409, headers, json.dumps(body).encode())

    edge: Edge = await make_edge(FakeUpstream(handler=conflict))
    async with asyncio.timeout(10):
        response = await edge.client.post(
            "/api/v1/agent/session", json={"extension": "1"}, headers=edge.auth()
        )
    assert response.status_code == 409
    assert response.json()["devices"] == [{"device_id": "SEP1"}]
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "3"
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (Unavailable("no_connector", "No connector is up."), 503, "no_connector"),
        (UpstreamTimeout("tunnel_timeout", "The connector did not answer."), 504, "tunnel_timeout"),
        (
            Conflict("device_selection_required", "Choose a device.", devices=["a", "b"]),
            409,
            "device_selection_required",
        ),
    ],
)
async def test_upstream_errors_become_problems(
    make_edge: EdgeFactory, error: Exception, status: int, code: str
) -> None:
    async def failing(request: TunnelRequest) -> TunnelResponse:
        raise error

    edge: Edge = await make_edge(FakeUpstream(handler=failing))
    async with asyncio.timeout(10):
        response = await edge.client.get("/api/v1/dialogs", headers=edge.auth())
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert {"type", "title", "detail"} <= problem.keys()


async def test_unexpected_upstream_failure_is_a_bare_500(make_edge: EdgeFactory) -> None:
    async def broken(request: TunnelRequest) -> TunnelResponse:
        raise RuntimeError("secret-host.internal exploded")

    edge: Edge = await make_edge(FakeUpstream(handler=broken))
    async with asyncio.timeout(10):
        response = await edge.client.get("/api/v1/dialogs", headers=edge.auth())
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "secret-host" not in response.text


async def test_agent_comes_only_from_the_token(edge: Edge) -> None:
    async with asyncio.timeout(10):
        # No route takes an agent id: smuggling one in a body, query or path is refused, never forwarded.
        in_body = await edge.client.put(
            "/api/v1/agent/state", json={"state": "READY", "agent_id": "2002"}, headers=edge.auth("1001")
        )
        in_query = await edge.client.get("/api/v1/agent?agent_id=2002", headers=edge.auth("1001"))
        in_path = await edge.client.get("/api/v1/agent/2002", headers=edge.auth("1001"))
        own = await edge.client.get("/api/v1/dialogs", headers=edge.auth("2002"))
    assert (in_body.status_code, in_query.status_code, in_path.status_code) == (400, 400, 404)
    assert [request.principal.agent_id for request in edge.upstream.requests if request.principal] == ["2002"]
    assert own.json()["agent_id"] == "2002"


async def test_openapi_document_lists_every_route_without_auth(edge: Edge) -> None:
    async with asyncio.timeout(10):
        response = await edge.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert ("POST", "/api/v1/dialogs/{dialog_id}/actions") in operations
    assert len(operations) == 12
    sign_in = document["components"]["schemas"]["SignIn"]
    assert sign_in["additionalProperties"] is False
    assert sign_in["properties"]["finesse_password"]["anyOf"][0]["writeOnly"] is True
    action = document["paths"]["/api/v1/dialogs/{dialog_id}/actions"]["post"]
    assert action["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/DialogAction")


async def test_readyz_follows_the_upstream_and_metrics_count_requests(edge: Edge) -> None:
    async with asyncio.timeout(10):
        assert (await edge.admin.get("/healthz")).status_code == 200
        assert (await edge.admin.get("/readyz")).status_code == 200
        edge.upstream.ready = False
        assert (await edge.admin.get("/readyz")).status_code == 503
        await edge.client.get("/api/v1/dialogs", headers=edge.auth())
        assert await edge.metric("fingress_edge_requests_total", route="/api/v1/dialogs", status="200") == 1
        assert await edge.metric("fingress_edge_tunnel_connections") == 1
        assert await edge.metric("fingress_edge_request_duration_seconds_count", route="/api/v1/dialogs") == 1


async def test_admin_surface_is_not_on_the_public_listener(edge: Edge) -> None:
    async with asyncio.timeout(10):
        for path in ("/metrics", "/healthz", "/readyz", "/reload", "/policy/status"):
            response = await edge.client.get(path)
            assert response.status_code == 404


async def test_an_upstream_that_never_answers_is_cut_off(make_edge: EdgeFactory) -> None:
    async def silent(request: TunnelRequest) -> TunnelResponse:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    edge: Edge = await make_edge(FakeUpstream(handler=silent), limits={"request_timeout_s": 0.1})
    async with asyncio.timeout(10):
        response = await edge.client.get("/api/v1/dialogs", headers=edge.auth())
    assert response.status_code == 504
    assert response.json()["code"] == "upstream_timeout"
