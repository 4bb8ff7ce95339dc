from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline
from ocpi_gateway.reservation_policy.capacity.memory import MemoryCapacity
from ocpi_gateway.reservation_policy.capacity.redis import RedisCapacity
from ocpi_gateway.store import open_store
from ocpi_gateway.store.mongo import MongoStore
from tests.bookings.support import Clock
from tests.store.mongomock_async import AsyncMockDatabase


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "mongo_emulated"])
async def store(request: pytest.FixtureRequest, tmp_path: Path
                ) -> AsyncIterator[DocumentStore]:
    backend: DocumentStore
    if request.param == "sqlite":
        backend = await open_store(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        backend = MongoStore(AsyncMockDatabase(f"test_{uuid.uuid4().hex}"))
    yield backend
    await backend.close()


@pytest.fixture(params=["memory", "redis"])
async def timeline(request: pytest.FixtureRequest, clock: Clock
                   ) -> AsyncIterator[CapacityTimeline]:
    impl: CapacityTimeline
    if request.param == "memory":
        impl = MemoryCapacity(clock=clock)
    else:
        redis = RedisCapacity.from_url(request.getfixturevalue("redis_server"), clock=clock)
        await redis._redis.flushall()
        impl = redis
    yield impl
    await impl.close()
