"""Redis availability: every key of a location carries the hash tag ``{location_id}``, so each
Lua script touches one cluster slot and is atomic across all gateway instances.

Keys per location (hashes keyed by EVSE uid):
``avail:{L}:status`` status, ``avail:{L}:updated`` epoch ms of the status,
``avail:{L}:holder`` holder, ``avail:{L}:until`` hold end epoch ms,
``avail:{L}:reserved`` last hold epoch ms.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from ocpi_gateway.redis_clients import RedisClient, RedisTarget, as_target, open_redis
from ocpi_gateway.reservation_policy.availability.base import (
    AvailabilityStore,
    EvseAvailability,
    EvseStatus,
)
from ocpi_gateway.reservation_policy.availability.memory import HoldListener, MemoryAvailability

# KEYS: status, updated. ARGV: uid, status, at_ms. Returns 1 when the status changed.
_SET_STATUS = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

# KEYS: status, holder, until, reserved. ARGV: now_ms, holder, until_ms, keep_free, cands...
# A hold is in force while until > now; expired holds count as free without a sweeper.
_PICK_AND_HOLD = """
local now = tonumber(ARGV[1])
local statuses = redis.call('HGETALL', KEYS[1])
local function held(uid)
  local h = redis.call('HGET', KEYS[2], uid)
  if not h then return false end
  local u = tonumber(redis.call('HGET', KEYS[3], uid) or '0')
  return u > now
end
local free = 0
for i = 1, #statuses, 2 do
  if statuses[i + 1] == 'AVAILABLE' and not held(statuses[i]) then free = free + 1 end
end
if free - 1 < tonumber(ARGV[4]) then return false end
for i = 5, #ARGV do
  local uid = ARGV[i]
  if redis.call('HGET', KEYS[1], uid) == 'AVAILABLE' and not held(uid) then
    redis.call('HSET', KEYS[2], uid, ARGV[2])
    redis.call('HSET', KEYS[3], uid, ARGV[3])
    redis.call('HSET', KEYS[4], uid, ARGV[1])
    return uid
  end
end
return false
"""

# KEYS: holder, until. ARGV: uid, holder.
_RELEASE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _dt(ms: bytes | str | None) -> datetime | None:
    return datetime.fromtimestamp(int(ms) / 1000, UTC) if ms is not None else None


def _keys(location_id: str) -> dict[str, str]:
    tag = "{" + location_id + "}"
    return {name: f"avail:{tag}:{name}"
            for name in ("status", "updated", "holder", "until", "reserved")}


class RedisAvailability:
    def __init__(self, client: RedisClient) -> None:
        self._redis = client
        self._set_status = client.register_script(_SET_STATUS)
        self._pick = client.register_script(_PICK_AND_HOLD)
        self._release = client.register_script(_RELEASE)
        self._listeners: list[HoldListener] = []

    @classmethod
    def from_url(cls, url: RedisTarget | str) -> RedisAvailability:
        return cls(open_redis(url))

    def add_hold_listener(self, listener: HoldListener) -> None:
        self._listeners.append(listener)

    def _notify(self, location_id: str, evse_uid: str) -> None:
        for listener in self._listeners:
            listener(location_id, evse_uid)

    async def set_status(
        self, location_id: str, evse_uid: str, status: EvseStatus, at: datetime
    ) -> bool:
        k = _keys(location_id)
        changed = await self._set_status(keys=[k["status"], k["updated"]],
                                         args=[evse_uid, status.value, _ms(at)])
        return bool(changed)

    async def _read(self, location_id: str, uids: Sequence[str] | None) -> list[EvseAvailability]:
        k = _keys(location_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            for name in ("status", "updated", "holder", "until", "reserved"):
                pipe.hgetall(k[name])
            status, updated, holder, until, reserved = await pipe.execute()
        now_ms = _ms(datetime.now(UTC))
        result = []
        for raw_uid, raw_status in status.items():
            uid = raw_uid.decode()
            if uids is not None and uid not in uids:
                continue
            hold_end = until.get(raw_uid)
            in_force = raw_uid in holder and hold_end is not None and int(hold_end) > now_ms
            result.append(EvseAvailability(
                location_id=location_id,
                evse_uid=uid,
                status=EvseStatus(raw_status.decode()),
                updated_at=_dt(updated.get(raw_uid)) or datetime.now(UTC),
                holder=holder[raw_uid].decode() if in_force else None,
                hold_until=_dt(hold_end) if in_force else None,
                last_reserved_at=_dt(reserved.get(raw_uid)),
            ))
        return result

    async def get(self, location_id: str, evse_uid: str) -> EvseAvailability | None:
        found = await self._read(location_id, [evse_uid])
        return found[0] if found else None

    async def location(self, location_id: str) -> dict[str, EvseAvailability]:
        return {e.evse_uid: e for e in await self._read(location_id, None)}

    async def pick_and_hold(
        self,
        location_id: str,
        candidates: Sequence[str],
        *,
        holder: str,
        until: datetime,
        keep_free: int = 0,
    ) -> str | None:
        k = _keys(location_id)
        picked: Any = await self._pick(
            keys=[k["status"], k["holder"], k["until"], k["reserved"]],
            args=[_ms(datetime.now(UTC)), holder, _ms(until), keep_free, *candidates],
        )
        if picked is None:
            return None
        uid = picked.decode() if isinstance(picked, bytes) else str(picked)
        self._notify(location_id, uid)
        return uid

    async def release(self, location_id: str, evse_uid: str, *, holder: str) -> bool:
        k = _keys(location_id)
        released = bool(await self._release(keys=[k["holder"], k["until"]],
                                            args=[evse_uid, holder]))
        if released:
            self._notify(location_id, evse_uid)
        return released

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (aioredis.RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()


def open_availability(redis: RedisTarget | str | None) -> AvailabilityStore:
    """Redis when one is configured (several instances share it), else in-process."""
    target = as_target(redis)
    if target is not None:
        return RedisAvailability.from_url(target)
    return MemoryAvailability()


