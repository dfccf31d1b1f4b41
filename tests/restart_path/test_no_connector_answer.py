"""The edge's answer while no connector is up (a connector restart): 503 ``no_connector`` with a
Retry-After, so that apps pause instead of hammering an edge whose connector is coming back."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from edge.relay.relay import NO_CONNECTOR_RETRY_AFTER_S
from tests.edge.servers import IdentityProvider
from tests.support.timing import seconds


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/agent", None),
        ("POST", "/api/v1/agent/session", {"extension": "1001001"}),
        ("PUT", "/api/v1/agent/state", {"state": "READY"}),
    ],
)
async def test_no_connector_answers_503_with_retry_after(
    edge_without_connector: httpx.AsyncClient,
    idp: IdentityProvider,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    auth = {"authorization": f"Bearer {idp.mint('1001')}"}
    async with asyncio.timeout(seconds(10)):
        answer = await edge_without_connector.request(method, path, json=body, headers=auth)
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "1"
    problem = answer.json()
    assert problem["code"] == "no_connector"
    assert problem["retry_after_s"] == NO_CONNECTOR_RETRY_AFTER_S


async def test_other_answers_carry_no_retry_after(
    edge_without_connector: httpx.AsyncClient, idp: IdentityProvider
) -> None:
    """Only the no-connector answer asks apps to pause: a bad token (401) says nothing about retrying."""
    async with asyncio.timeout(seconds(10)):
        answer = await edge_without_connector.get("/api/v1/agent", headers={"authorization": "Bearer x"})
    assert answer.status_code == 401
    assert "retry-after" not in answer.headers
