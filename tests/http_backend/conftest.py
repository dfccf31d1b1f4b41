"""Every async test here runs on both event loops the backend may find itself on (asyncio's own and
uvloop) and, through the ``tls_layer`` fixture, on both of its TLS layers."""

from __future__ import annotations

import pytest

from connector.finesse.http_backend import TlsLayer
from tests.support.loops import LoopFactory, both_loops


def pytest_asyncio_loop_factories() -> dict[str, LoopFactory]:
    return both_loops()


@pytest.fixture(params=["memory_bio", "loop"])
def tls_layer(request: pytest.FixtureRequest) -> TlsLayer:
    layer: TlsLayer = request.param
    return layer
