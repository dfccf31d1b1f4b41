"""Fixtures of the Finesse layer's tests: a canned Finesse over TLS and the shared HTTP client."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx
import pytest

from connector.finesse.client import FinesseClient, build_http_client
from connector.finesse.observer import CallStats
from tests.finesse.canned import CannedFinesse, serve_canned


@pytest.fixture
async def canned(server_ssl_context: ssl.SSLContext) -> AsyncIterator[CannedFinesse]:
    async with serve_canned(server_ssl_context) as finesse:
        yield finesse


@pytest.fixture
async def http(client_ssl_context: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with build_http_client(ssl_context=client_ssl_context, timeout_s=2.0) as client:
        yield client


@pytest.fixture
def stats() -> CallStats:
    return CallStats()


@pytest.fixture
def canned_client(canned: CannedFinesse, http: httpx.AsyncClient, stats: CallStats) -> FinesseClient:
    return FinesseClient(http=http, base_url=canned.base_url, side="A", observer=stats)
