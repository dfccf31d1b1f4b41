from __future__ import annotations

import asyncio

from tests.edge.conftest import Edge


async def test_get_agent_reaches_upstream_with_principal(edge: Edge) -> None:
    async with asyncio.timeout(10):
        response = await edge.client.get("/api/v1/agent", headers=edge.auth("1001"))
    assert response.status_code == 200, response.text
    assert response.json()["agent_id"] == "1001"
