"""The emulator on loopback for tests: both sides on port 0 with the session's trustme certificate, and an
httpx client that trusts the test CA. Other areas copy this pattern:

    async def test_x(emulator: EmulatorServer, https: httpx.AsyncClient) -> None:
        await https.put(f"{emulator.base_url('A')}/finesse/api/User/1001", auth=("1001", "alice-pass"), ...)
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx
import pytest

from fingress.emulator.config import EmulatorConfig
from fingress.emulator.server import EmulatorServer
from tests.emulator.support import fast_config
from tests.support.timing import seconds


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    """The sample cluster with millisecond timings; override this fixture to change them."""
    return fast_config()


@pytest.fixture
async def emulator(
    emulator_config: EmulatorConfig, server_ssl_context: ssl.SSLContext
) -> AsyncIterator[EmulatorServer]:
    server = EmulatorServer(
        emulator_config=emulator_config,
        ssl_context=server_ssl_context,
        host="127.0.0.1",
        https_ports={"A": 0, "B": 0},
        xmpp_ports={"A": 0, "B": 0},
    )
    async with server:
        yield server


@pytest.fixture
async def https(
    emulator: EmulatorServer, client_ssl_context: ssl.SSLContext
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client trusting the test CA (pass full URLs: emulator.base_url(side) + path). It depends on
    ``emulator`` so that it closes first: an idle TLS keep-alive connection would otherwise hold up the
    server's graceful shutdown."""
    async with httpx.AsyncClient(verify=client_ssl_context, timeout=seconds(5)) as client:
        yield client
