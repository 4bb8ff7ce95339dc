"""The backends of the store contract: ``sqlite`` (always), ``mongo_emulated`` (mongomock
behind tests/store/mongomock_async.py), ``mongo_real`` (only when MONGODB_URL is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.store import open_store
from ocpi_gateway.store.mongo import MongoStore
from ocpi_gateway.store.sqlite import SqliteStore
from tests.store.mongomock_async import AsyncMockDatabase

BACKENDS = ["sqlite", "mongo_emulated", "mongo_real"]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DocumentStore]:
    backend: DocumentStore
    if request.param == "sqlite":
        backend = await open_store(f"sqlite:///{tmp_path / 'store.db'}")
        assert isinstance(backend, SqliteStore)
    elif request.param == "mongo_emulated":
        backend = MongoStore(AsyncMockDatabase(f"test_{uuid.uuid4().hex}"))
    else:
        url = os.environ.get("MONGODB_URL")
        if not url:
            pytest.skip("MONGODB_URL not set: no real MongoDB server to test against")
        backend = MongoStore.from_url(url)
    yield backend
    if request.param == "mongo_real":
        # A private collection per test would be cleaner; drop what the tests wrote instead.
        for name in ("things", "other", "no_shows", "no_show_stats", "token_bans",
                     "reservations"):
            await backend._db[name].drop()  # type: ignore[attr-defined]
    await backend.close()


