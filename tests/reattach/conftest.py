"""The connector tests' emulator and HTTP client fixtures, and a record of the requests sent to Finesse."""

from __future__ import annotations

import httpx
import pytest

from tests.connector.conftest import emulator, http
from tests.reattach.support import FinesseRequests

__all__ = ["emulator", "finesse_requests", "http"]


@pytest.fixture
def finesse_requests(http: httpx.AsyncClient) -> FinesseRequests:
    """Every request the connector sends to Finesse through ``http`` (an httpx request hook)."""
    recorded = FinesseRequests()
    http.event_hooks = {"request": [recorded.record], "response": []}
    return recorded
