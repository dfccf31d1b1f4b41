"""Every async test here runs on both event loops the backend may find itself on (asyncio's own and
uvloop) and, through the ``tls_layer`` fixture, on both of its TLS layers."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Mapping

import pytest

from connector.finesse.http_backend import TlsLayer


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        factories["uvloop"] = uvloop.new_event_loop
    return factories


@pytest.fixture(params=["memory_bio", "loop"])
def tls_layer(request: pytest.FixtureRequest) -> TlsLayer:
    layer: TlsLayer = request.param
    return layer
