"""OCPP 1.6 transaction ids: integers the CSMS hands out in StartTransaction.conf.

Many 1.6 chargers store them as signed 32-bit integers, so ids stay below 2**31.
"""

from __future__ import annotations

import time
from typing import Protocol

from ocpi_gateway.redis_clients import RedisClient

_MAX = 2**31 - 1


class TransactionIdSource(Protocol):
    async def next_id(self, charge_point_id: str) -> int: ...


class InMemoryTransactionIds:
    """One process: a counter seeded with the clock so a restart does not reuse recent ids."""

    def __init__(self) -> None:
        self._next = int(time.time()) % _MAX or 1

    async def next_id(self, charge_point_id: str) -> int:
        value = self._next
        self._next = value + 1 if value < _MAX else 1
        return value


class RedisTransactionIds:
    """1.6 transaction ids unique across every process sharing the Redis."""

    _NEXT = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[1])
"""

    def __init__(self, redis: RedisClient, key: str = "ocpp:txid") -> None:
        self._script = redis.register_script(self._NEXT)
        self._key = key

    async def next_id(self, charge_point_id: str) -> int:
        value = int(await self._script(keys=[self._key], args=[int(time.time())]))
        return value % _MAX or 1
