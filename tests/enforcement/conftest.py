from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.store.sqlite import SqliteStore


@pytest.fixture
async def store() -> AsyncIterator[DocumentStore]:
    # The real SQLite backend: compare-and-set and insert-if-absent are the store's own.
    opened = await SqliteStore.open(":memory:")
    yield opened
    await opened.close()
