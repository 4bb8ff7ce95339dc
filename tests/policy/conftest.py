from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.policy.world import OPEN


@pytest.fixture(autouse=True)
async def _close_worlds() -> AsyncIterator[None]:
    yield
    while OPEN:
        await OPEN.pop().close()
