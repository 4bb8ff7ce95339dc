from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline
from ocpi_gateway.reservation_policy.capacity.memory import MemoryCapacity
from ocpi_gateway.reservation_policy.capacity.redis import RedisCapacity
from tests.capacity.support import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "redis"])
async def timeline(request: pytest.FixtureRequest, clock: Clock
                   ) -> AsyncIterator[CapacityTimeline]:
    if request.param == "memory":
        impl: CapacityTimeline = MemoryCapacity(clock=clock)
    else:
        redis = RedisCapacity.from_url(request.getfixturevalue("redis_server"), clock=clock)
        await redis._redis.flushall()
        impl = redis
    yield impl
    await impl.close()
