"""The connector tests' emulator and HTTP client fixtures, and a record of the requests sent to Finesse;
every async test runs on asyncio and on uvloop."""

from __future__ import annotations

import ssl

import httpx
import pytest

from fingress.emulator.server import EmulatorServer
from tests.connector.conftest import emulator, http
from tests.reattach.support import Connectors, FinesseRequests
from tests.support.loops import LoopFactory, both_loops

__all__ = ["connectors", "emulator", "finesse_requests", "http"]


def pytest_asyncio_loop_factories() -> dict[str, LoopFactory]:
    return both_loops()


@pytest.fixture
def connectors(
    emulator: EmulatorServer, http: httpx.AsyncClient, client_ssl_context: ssl.SSLContext
) -> Connectors:
    """Connectors on the test's emulator, one after another."""
    return Connectors(emulator, http, client_ssl_context)


@pytest.fixture
def finesse_requests(http: httpx.AsyncClient) -> FinesseRequests:
    """Every request the connector sends to Finesse through ``http`` (an httpx request hook)."""
    recorded = FinesseRequests()
    http.event_hooks = {"request": [recorded.record], "response": []}
    return recorded
