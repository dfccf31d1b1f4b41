"""The admin listener on loopback: health, readiness from Finesse's SystemInfo, metrics."""

from __future__ import annotations

import asyncio
import socket

import httpx

from connector.ops.admin import AdminServer, Readiness, build_admin_app
from tests.connector.conftest import Harness
from tests.support.timing import seconds


async def test_healthz_readyz_and_metrics(harness: Harness) -> None:
    context = harness.manager._ctx
    readiness = Readiness(finesse=dict(context.finesse), sides=context.sides, cache_s=0)
    server = AdminServer(app=build_admin_app(metrics=harness.metrics, readiness=readiness))
    await server.start()
    try:
        async with (
            asyncio.timeout(seconds(10)),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as admin,
        ):
            assert (await admin.get("/healthz")).json() == {"status": "ok"}
            ready = await admin.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["finesse_status"] == "IN_SERVICE"

            await harness.sign_in("1003", extension="1003")
            await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
            text = (await admin.get("/metrics")).text
            assert 'fingress_connector_sessions{state="active"} 1.0' in text
            assert (
                'fingress_connector_actions_total{operation="change_state",outcome="confirmed"} 1.0' in text
            )
            assert 'fingress_connector_events_published_total{type="agent.updated"}' in text
            assert "fingress_connector_finesse_request_seconds_bucket" in text
            assert "carol-pass" not in text

            assert (await harness.control.post("/emulator/sides/A/down")).status_code == 200
            context.sides.active = "A"
            down = await admin.get("/readyz")
            assert down.status_code == 503
            assert down.json()["ready"] is False
            assert (await admin.get("/admin/nothing")).status_code == 404
    finally:
        await server.close()


async def test_admin_listener_is_tcp_so_accepted_connections_get_nodelay(harness: Harness) -> None:
    # asyncio sets TCP_NODELAY on an accepted connection only when its socket's proto is IPPROTO_TCP, and
    # accepted sockets inherit the listener's proto; without it, two-part responses stall ~40 ms.
    context = harness.manager._ctx
    readiness = Readiness(finesse=dict(context.finesse), sides=context.sides, cache_s=0)
    server = AdminServer(app=build_admin_app(metrics=harness.metrics, readiness=readiness))
    try:
        assert server._socket.proto == socket.IPPROTO_TCP
    finally:
        await server.close()
