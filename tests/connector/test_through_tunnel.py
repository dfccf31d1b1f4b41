"""End to end below the public app: the edge's tunnel relay → mTLS tunnel → session manager → emulator."""

from __future__ import annotations

import asyncio
import json
import random
import ssl

import pytest
import trustme

from connector.tunnel.client import TunnelClient
from edge.relay.relay import TunnelRelay
from edge.tunnel.errors import BadRequest
from edge.tunnel.messages import AgentId, Principal, TunnelRequest
from tests.connector.conftest import Harness
from tests.support.timing import seconds

CONNECTOR_NAME = "connector-1.fingress.test"


def request(method: str, path: str, body: object = None) -> TunnelRequest:
    return TunnelRequest(
        request_id=f"r-{random.getrandbits(32)}",
        method=method,
        path=path,
        query="",
        headers={"content-type": "application/json"},
        body=json.dumps(body).encode() if body is not None else b"",
        principal=Principal(agent_id=AgentId("1003"), subject="carol"),
    )


async def test_sign_in_events_and_sign_out_through_the_tunnel(
    harness: Harness, ca: trustme.CA, server_cert: trustme.LeafCert
) -> None:
    edge_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(edge_tls)
    ca.configure_trust(edge_tls)
    edge_tls.verify_mode = ssl.CERT_REQUIRED
    connector_tls = ssl.create_default_context()
    ca.configure_trust(connector_tls)
    ca.issue_cert(CONNECTOR_NAME).configure_cert(connector_tls)

    relay = TunnelRelay(ssl_context=edge_tls, allowed_identities={CONNECTOR_NAME}, port=0)
    await relay.start()
    client = TunnelClient(
        urls=[f"wss://localhost:{relay.port}/tunnel"],
        ssl_context=connector_tls,
        service=harness.manager,
        connector_id="c1",
        connections_per_edge=1,
    )
    await client.start()
    try:
        async with asyncio.timeout(seconds(15)):
            await relay.wait_for_connections(1)
            body = {"extension": "1003", "finesse_password": "carol-pass"}
            response = await relay.request(request("POST", "/api/v1/agent/session", body), timeout_s=5)
            assert response.status == 200, response.body
            assert json.loads(response.body)["state"] == "NOT_READY"

            stream = await relay.open_events(Principal(agent_id=AgentId("1003"), subject="carol"), since=None)
            frames = aiter(stream)
            snapshot = await anext(frames)
            assert snapshot.type == "snapshot"
            response = await relay.request(
                request("PUT", "/api/v1/agent/state", {"state": "READY"}), timeout_s=5
            )
            assert response.status == 200
            while (event := await anext(frames)).type != "agent.updated":
                pass
            assert json.loads(event.json)["data"]["state"] == "READY"

            # The connector's problem reaches the edge as the same error (rendered there as problem+json).
            with pytest.raises(BadRequest) as caught:
                await relay.request(request("GET", "/api/v1/dialogs/9/actions"), timeout_s=5)
            assert caught.value.code == "method_not_allowed"

            await relay.request(
                request("PUT", "/api/v1/agent/state", {"state": "NOT_READY", "reason_code_id": "1"}),
                timeout_s=5,
            )
            response = await relay.request(
                request("DELETE", "/api/v1/agent/session", {"reason_code_id": "11"}), timeout_s=5
            )
            assert response.status == 200
            remaining = [event.type async for event in frames]
            assert remaining[-1] == "session.ended"  # and the stream ended with it
            await stream.close()
    finally:
        await client.abort()
        await relay.abort()
