"""Each resilience test gets its own demo (tests break things on purpose)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.resilience.support import ResilienceStack, start_stack
from tests.support.timing import seconds


@pytest_asyncio.fixture
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ResilienceStack]:
    started = await start_stack(tmp_path_factory.mktemp("resilience"), grace_s=seconds(5))
    try:
        yield started
    finally:
        await started.stop()
