"""Which gateway process holds each charger, in a Redis several processes share.

Keys (hash-tagged by charger so each script touches one cluster slot):

- ``ocpp:{<cp>}:presence`` = ``<instance>|<fence>``, with a TTL the owner refreshes while the
  charger is connected. ``<fence>`` comes from ``ocpp:{<cp>}:fence`` when the charger
  connects: one more than the last fence, and never less than the Redis server's clock in
  milliseconds, so it keeps growing even when Redis lost its data. The newest connection
  always wins and a stale owner (paused longer than the TTL, or whose charger reconnected
  elsewhere) can neither refresh nor delete the newer entry; it learns it lost the charger and
  closes its zombie socket. A presence entry that is simply gone (expired during a pause, or
  Redis restarted empty) is claimed again by its owner unless a newer fence exists: only a
  newer connection elsewhere takes a charger over.
- ``ocpp:instance:<instance>``: exists while the process lives (short TTL, refreshed often).
- ``ocpp:{<cp>}:info``: the charger's directory entry (ocpp_adapter/directory.py), written by
  its owner when it connects and at every presence refresh, kept after it leaves.

A presence entry of a dead process counts as none.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog
from redis.exceptions import RedisError

from ocpi_gateway.domain.loops import BackgroundLoop, LoopRegistry
from ocpi_gateway.ocpp_adapter.directory import (
    ChargerPresence,
    from_info,
    info_fields,
    info_key,
    of_session,
)
from ocpi_gateway.ocpp_adapter.registry import ConnectionRegistry
from ocpi_gateway.redis_clients import RedisClient
from ocpi_gateway.redis_clients.batching import CommandBatcher

log = structlog.get_logger(__name__)

BATCH = 256
"""Chargers per pipeline of a presence refresh or directory write: 5,000 chargers in one
pipeline held the event loop for seconds (packing and parsing 10,000 commands between two
awaits), long enough for connected chargers' Heartbeats to wait behind it."""

# KEYS: presence, fence. ARGV: instance, ttl_ms. The fence never goes below the server's clock
# (ms), so a claim after Redis lost its data still beats every connection made before.
_CLAIM = """
local fence = redis.call('INCR', KEYS[2])
local t = redis.call('TIME')
local clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if fence < clock then
  fence = clock
  redis.call('SET', KEYS[2], fence)
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence, 'PX', ARGV[2])
return fence
"""
# KEYS: presence, fence. ARGV: token (instance|fence), ttl_ms, fence.
# 1: still ours (re-claimed when the entry was gone); 0: a newer connection holds the charger.
_REFRESH = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
local ours = tonumber(ARGV[3])
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if last > ours then return 0 end
if current then
  local theirs = tonumber(string.match(current, '|(%d+)$') or '0')
  if theirs >= ours then return 0 end
end
if last < ours then redis.call('SET', KEYS[2], ARGV[3]) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def presence_key(charge_point_id: str) -> str:
    return f"ocpp:{{{charge_point_id}}}:presence"


def fence_key(charge_point_id: str) -> str:
    return f"ocpp:{{{charge_point_id}}}:fence"


def instance_key(instance_id: str) -> str:
    return f"ocpp:instance:{instance_id}"


class RedisPresence:
    """This process's claims on the chargers connected to it, and the lookup of the live
    process holding any other charger."""

    def __init__(self, registry: ConnectionRegistry, redis: RedisClient, instance_id: str, *,
                 presence_ttl: float, instance_ttl: float,
                 loops: LoopRegistry | None = None) -> None:
        self.registry = registry
        self.redis = redis
        self.instance_id = instance_id
        self.presence_ttl = presence_ttl
        self._ttl_ms = max(int(presence_ttl * 1000), 10)
        self.instance_ttl = instance_ttl
        self._instance_ttl_ms = max(int(instance_ttl * 1000), 10)
        self._owned: dict[str, str] = {}
        self._unclaimed: set[str] = set()
        """Chargers connected while Redis could not be reached: claimed at the next refresh."""
        self._refresh_now = asyncio.Event()
        self._seen_alive: dict[str, float] = {}
        # A charger's claim, directory entry and release go out with the other chargers' of
        # the same pass of the loop (a reconnect storm: redis_clients/batching.py).
        self._batch = CommandBatcher(redis)
        self.on_lost: Callable[[str], Awaitable[None]] | None = None
        """Called with a charger id when another process took it over (set by the server)."""
        self._refresher = BackgroundLoop("ocpp-presence-refresh", self._refresh_job,
                                         interval=presence_ttl / 3, registry=loops,
                                         wake=self._refresh_now, run_at_start=False)
        self._keeper = BackgroundLoop("ocpp-liveness", self.keep_alive,
                                      interval=instance_ttl / 3, registry=loops,
                                      run_at_start=False, quiet=(RedisError,))

    async def start(self) -> None:
        await self.redis.set(instance_key(self.instance_id), "1", px=self._instance_ttl_ms)
        self._refresher.start()
        self._keeper.start()

    async def stop_refreshing(self) -> None:
        await self._keeper.stop()
        await self._refresher.stop()

    async def leave(self) -> None:
        """Release every charger held here and end this process's liveness key."""
        for charge_point_id in list(self._owned):
            await self.charger_disconnected(charge_point_id)
        with contextlib.suppress(RedisError):
            await self.redis.delete(instance_key(self.instance_id))

    async def drain(self) -> None:
        """Wait for the claims and releases queued (before the client is closed)."""
        await self._batch.drain()

    @property
    def refreshes(self) -> int:
        """How many presence refreshes ran (tests: "past several refreshes")."""
        return self._refresher.runs

    async def keep_alive(self) -> bool:
        """Renew this process's short-lived key (a requester sees a dead owner within
        seconds, long before the owner's presence entries, refreshed less often, expire).
        True when Redis lost its data and every presence is being claimed again now."""
        before = await self.redis.set(instance_key(self.instance_id), "1",
                                      px=self._instance_ttl_ms, get=True)
        if before is not None or not (self._owned or self._unclaimed):
            return False
        if self._unclaimed or not await self._fences_kept():
            # Redis restarted empty: our presence entries are gone too; claim them again
            # now, not at the next refresh.
            log.warning("ocpp_redis_state_lost", instance_id=self.instance_id)
            self._refresh_now.set()
            return True
        # Only our short-lived key lapsed: this process (or its Redis calls) fell behind by
        # more than the instance TTL, as in a reconnect storm on a loaded machine. The
        # presence entries live far longer and the refresh keeps them; refreshing thousands
        # now would only put the loop further behind.
        log.info("ocpp_liveness_lapsed", instance_id=self.instance_id)
        return False

    async def _fences_kept(self) -> bool:
        """Whether Redis still holds the fence of a charger we claimed: fences never expire, so
        only a Redis that lost its data lacks it."""
        charge_point_id = next(iter(self._owned), None)
        if charge_point_id is None:
            return False
        return bool(await self.redis.exists(fence_key(charge_point_id)))

    async def charger_connected(self, charge_point_id: str) -> None:
        self._unclaimed.discard(charge_point_id)
        try:
            fence = await self._batch.execute(
                "EVAL", _CLAIM, 2, presence_key(charge_point_id), fence_key(charge_point_id),
                self.instance_id, self._ttl_ms)
        except RedisError:
            log.warning("ocpp_presence_claim_failed", charge_point_id=charge_point_id)
            self._unclaimed.add(charge_point_id)
            self._refresh_now.set()
            return
        self._owned[charge_point_id] = f"{self.instance_id}|{int(fence)}"
        session = self.registry.get(charge_point_id)
        if session is None:
            return
        fields = info_fields(of_session(session, self.instance_id))
        try:
            await self._batch.execute("HSET", info_key(charge_point_id),
                                      *(item for pair in fields.items() for item in pair))
        except RedisError:
            log.warning("ocpp_directory_write_failed", chargers=1)

    async def _write_info(self, charge_point_ids: list[str]) -> None:
        """The directory's entries of chargers connected here (ocpp_adapter/directory.py)."""
        sessions = [(cp, session) for cp in charge_point_ids
                    if (session := self.registry.get(cp)) is not None]
        for start in range(0, len(sessions), BATCH):
            batch = sessions[start:start + BATCH]
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for cp, session in batch:
                        pipe.hset(info_key(cp), mapping=info_fields(
                            of_session(session, self.instance_id)))
                    await pipe.execute()
            except RedisError:
                log.warning("ocpp_directory_write_failed", chargers=len(sessions) - start)
                return

    async def describe(self, charge_point_ids: list[str]) -> dict[str, ChargerPresence]:
        """Every charger's directory entry, from this process for its own sessions and from
        Redis for the others (online: a presence entry of a live instance)."""
        found: dict[str, ChargerPresence] = {}
        remote: list[str] = []
        for cp in charge_point_ids:
            session = self.registry.get(cp)
            if session is not None and not session.is_closed:
                found[cp] = of_session(session, self.instance_id)
            else:
                remote.append(cp)
        if not remote:
            return found
        async with self.redis.pipeline(transaction=False) as pipe:
            for cp in remote:
                pipe.get(presence_key(cp))
                pipe.hgetall(info_key(cp))
            results = await pipe.execute()
        owners: dict[str, str | None] = {}
        for index, cp in enumerate(remote):
            value = results[2 * index]
            owner = value.decode() if isinstance(value, bytes) else value
            owners[cp] = owner.rsplit("|", 1)[0] if owner else None
        alive = {instance: instance != self.instance_id and await self.alive(
            instance, fresh=False) for instance in {o for o in owners.values() if o}}
        for index, cp in enumerate(remote):
            owner = owners[cp]
            found[cp] = from_info(cp, results[2 * index + 1] or {},
                                  online=owner is not None and alive.get(owner, False))
        return found

    async def _claim_unclaimed(self) -> None:
        for charge_point_id in list(self._unclaimed):
            session = self.registry.get(charge_point_id)
            if session is None or session.is_closed:
                self._unclaimed.discard(charge_point_id)
                continue
            await self.charger_connected(charge_point_id)

    async def charger_disconnected(self, charge_point_id: str) -> None:
        self._unclaimed.discard(charge_point_id)
        token = self._owned.pop(charge_point_id, None)
        if token is None:
            return
        try:
            await self._batch.execute("EVAL", _RELEASE, 1, presence_key(charge_point_id),
                                      token)
        except RedisError:
            log.warning("ocpp_presence_release_failed", charge_point_id=charge_point_id)

    async def _refresh_job(self) -> None:
        self._refresh_now.clear()
        await self.refresh_presence()

    async def refresh_presence(self) -> None:
        """Refresh (or claim again, when Redis lost them) the presence of every charger
        connected here; close the sockets of those a newer connection elsewhere took over."""
        try:
            await self.redis.set(instance_key(self.instance_id), "1", px=self._instance_ttl_ms)
        except RedisError:
            log.warning("ocpp_liveness_refresh_failed", instance_id=self.instance_id)
            return
        if self._unclaimed:
            await self._claim_unclaimed()
        owned = list(self._owned.items())
        for start in range(0, len(owned), BATCH):
            if not await self._refresh_batch(owned[start:start + BATCH]):
                log.warning("ocpp_presence_refresh_failed", chargers=len(owned) - start)
                return

    async def _refresh_batch(self, owned: list[tuple[str, str]]) -> bool:
        try:
            # EVAL, not EVALSHA: after a Redis restart the script cache is empty, and a
            # cluster pipeline does not reload scripts.
            async with self.redis.pipeline(transaction=False) as pipe:
                for charge_point_id, token in owned:
                    pipe.eval(_REFRESH, 2, presence_key(charge_point_id),
                              fence_key(charge_point_id), token, self._ttl_ms,
                              token.rsplit("|", 1)[1])
                results = await pipe.execute()
        except RedisError:
            return False
        await self._write_info([cp for (cp, _), kept in zip(owned, results, strict=True)
                                if kept])
        for (charge_point_id, token), kept in zip(owned, results, strict=True):
            if not kept and self._owned.get(charge_point_id) == token:
                log.warning("ocpp_presence_lost", charge_point_id=charge_point_id)
                del self._owned[charge_point_id]
                if self.on_lost is not None:
                    await self.on_lost(charge_point_id)
        return True

    async def owner(self, charge_point_id: str, *, fresh: bool = False) -> str | None:
        """``instance|fence`` of the live process holding the charger, or None."""
        value = await self.redis.get(presence_key(charge_point_id))
        if value is None:
            return None
        owner = value.decode() if isinstance(value, bytes) else str(value)
        instance = owner.rsplit("|", 1)[0]
        if instance != self.instance_id and not await self.alive(instance, fresh=fresh):
            return None  # its process is gone; the entry just has not expired yet
        return owner

    async def alive(self, instance: str, *, fresh: bool) -> bool:
        # A liveness check costs a round trip; one seen alive within a third of its TTL is
        # taken as alive still (the wait for an answer always checks afresh).
        now = time.monotonic()
        if not fresh and now - self._seen_alive.get(instance, -1e9) < self.instance_ttl / 3:
            return True
        if await self.redis.exists(instance_key(instance)):
            self._seen_alive[instance] = now
            return True
        self._seen_alive.pop(instance, None)
        return False
