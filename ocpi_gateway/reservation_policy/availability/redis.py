"""Redis availability: every key of a location carries the hash tag ``{location_id}``, so each
Lua script touches one cluster slot and is atomic across all gateway instances.

Keys per location (hashes keyed by EVSE uid):
``avail:{L}:status`` status, ``avail:{L}:updated`` epoch ms of the status,
``avail:{L}:holder`` holder, ``avail:{L}:until`` hold end epoch ms,
``avail:{L}:reserved`` last hold epoch ms; and the string ``avail:{L}:run``, the run id under
which the location's data was last rebuilt. The Lua scripts are in ``redis_scripts``.

Surviving a Redis that comes back empty (see ``availability/recovery.py``): ``avail:run`` holds
the current run id. A store with a run id (``guarded``) refuses to pick at a location whose
``run`` key differs from its own, so that no instance picks from availability that lost its
holds before every instance has put back the holds it knows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from ocpi_gateway.domain.tasks import wait_event
from ocpi_gateway.redis_clients import RedisClient, RedisTarget, as_target, open_redis
from ocpi_gateway.reservation_policy.availability import redis_scripts as scripts
from ocpi_gateway.reservation_policy.availability.base import (
    AvailabilityRebuilding,
    AvailabilityStore,
    EvseAvailability,
    EvseStatus,
)
from ocpi_gateway.reservation_policy.availability.memory import HoldListener, MemoryAvailability

PIPELINE_LOCATIONS = 100
"""Locations per pipeline (``initialise_locations``, ``open_locations``): an answer is parsed
in one go, without handing the loop back (500 locations' views took 30-40 ms of CPU)."""

_VIEW = ("status", "updated", "holder", "until", "reserved")

RUN_MARKER = "avail:run"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _dt(ms: bytes | str | None) -> datetime | None:
    return datetime.fromtimestamp(int(ms) / 1000, UTC) if ms is not None else None


def _keys(location_id: str) -> dict[str, str]:
    tag = "{" + location_id + "}"
    return {name: f"avail:{tag}:{name}"
            for name in ("status", "updated", "holder", "until", "reserved", "run")}


def _view_keys(k: dict[str, str]) -> list[str]:
    """The keys of ``READ_VIEW``: the five hashes of the view, then the run id."""
    return [*(k[name] for name in _VIEW), k["run"]]


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    """A script's HGETALL answer (field, value, field, value...) as HGETALL's own."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisAvailability:
    def __init__(self, client: RedisClient, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._redis = client
        self._clock = clock
        self._set_status = client.register_script(scripts.SET_STATUS)
        self._pick = client.register_script(scripts.PICK_AND_HOLD)
        self._release = client.register_script(scripts.RELEASE)
        self._restore = client.register_script(scripts.RESTORE_HOLD)
        self._join = client.register_script(scripts.JOIN_RUN)
        self._rotate = client.register_script(scripts.ROTATE_RUN)
        self._read_view = client.register_script(scripts.READ_VIEW)
        self._listeners: list[HoldListener] = []
        self._run = ""
        """The run id this instance rebuilt under; "" = unguarded (no recovery attached)."""
        self._ready = asyncio.Event()
        self._ready.set()
        self._generation = 0
        """Counts ``close_gate`` calls: an answer to a call sent before the last one is stale."""
        self._suspects: set[str] = set()
        self.lost = asyncio.Event()
        """Set when a location was found not rebuilt under our run: the recovery looks now."""

    # -- run ids (recovery) --------------------------------------------------------------

    @property
    def run(self) -> str:
        return self._run

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def wait_ready(self, timeout: float) -> bool:  # noqa: ASYNC109
        # Not wait_for: on 3.11 it can drop the caller's cancellation (domain/tasks.py).
        return await wait_event(self._ready, timeout)

    def close_gate(self, run: str) -> None:
        """Refuse decisions until ``open_gate``: the data is being rebuilt under ``run``."""
        self._run = run
        self._generation += 1
        self._suspects.clear()
        self._ready.clear()

    def open_gate(self) -> None:
        self._ready.set()

    async def join_run(self, candidate: str) -> str:
        """The current run id; ``candidate`` becomes it when Redis has none (fresh, or lost)."""
        return _text(await self._join(keys=[RUN_MARKER], args=[candidate]))

    async def rotate_run(self, expected: str, new: str) -> str:
        return _text(await self._rotate(keys=[RUN_MARKER], args=[expected, new]))

    async def lost_locations(self, run: str) -> list[str]:
        """Of the locations found not rebuilt under ``run`` since the last look, those still
        without it (their data is gone); the others were answered from before a rebuild
        that has finished since, or are back."""
        suspects, self._suspects = self._suspects, set()
        lost = []
        for location_id in sorted(suspects):
            current = await self._redis.get(_keys(location_id)["run"])
            if current is None or _text(current) != run:
                lost.append(location_id)
        return lost

    async def open_locations(self, location_ids: Iterable[str], run: str,
                             *, only_missing: bool = False) -> None:
        """Mark locations rebuilt under ``run`` (one key per location: one slot each)."""
        ids = list(location_ids)
        # A pipeline per few hundred, not a round trip each (10,000 at every start).
        for start in range(0, len(ids), PIPELINE_LOCATIONS):
            async with self._redis.pipeline(transaction=False) as pipe:
                for location_id in ids[start:start + PIPELINE_LOCATIONS]:
                    pipe.set(_keys(location_id)["run"], run, nx=only_missing)
                await pipe.execute()

    async def restore_hold(self, location_id: str, evse_uid: str, *, holder: str,
                           until: datetime) -> bool:
        k = _keys(location_id)
        restored = bool(await self._restore(
            keys=[k["holder"], k["until"], k["reserved"]],
            args=[evse_uid, holder, _ms(until), _ms(self._clock())]))
        if restored:
            self._notify(location_id, evse_uid)
        return restored

    def _not_rebuilt(self, location_id: str, generation: int) -> AvailabilityRebuilding:
        if generation == self._generation:
            # Sent under the gate that is still current: decisions wait (and /ready answers
            # 503) until the recovery looked. An answer from before a rebuild began is stale:
            # taken for a loss it would start a new run after every rebuild, for ever.
            self._suspects.add(location_id)
            self._ready.clear()
            self.lost.set()
        return AvailabilityRebuilding("availability is being rebuilt after Redis lost its data")

    @classmethod
    def from_url(cls, url: RedisTarget | str, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                 ) -> RedisAvailability:
        return cls(open_redis(url), clock=clock)

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

    async def _read(self, location_id: str, uids: Sequence[str] | None,
                    *, guarded: bool = False) -> list[EvseAvailability]:
        k = _keys(location_id)
        guarded = guarded and bool(self._run)
        generation = self._generation
        if guarded and not self._ready.is_set():
            raise AvailabilityRebuilding("availability is being rebuilt after a Redis restart")
        *hashes, run = await self._read_view(keys=_view_keys(k), args=[0])
        if guarded and _text(run) != self._run:
            raise self._not_rebuilt(location_id, generation)
        status, updated, holder, until, reserved = (_pairs(flat) for flat in hashes)
        return self._entries(location_id, uids, _ms(self._clock()),
                             status, updated, holder, until, reserved)

    def _entries(self, location_id: str, uids: Sequence[str] | None, now_ms: int,
                 status: dict[bytes, bytes], updated: dict[bytes, bytes],
                 holder: dict[bytes, bytes], until: dict[bytes, bytes],
                 reserved: dict[bytes, bytes]) -> list[EvseAvailability]:
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
                updated_at=_dt(updated.get(raw_uid)) or self._clock(),
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

    async def decision_view(self, location_id: str) -> dict[str, EvseAvailability]:
        return {e.evse_uid: e for e in await self._read(location_id, None, guarded=True)}

    async def locations(self, location_ids: Sequence[str]
                        ) -> dict[str, dict[str, EvseAvailability]]:
        # The same script with no EVSE to record: a read of each location in one go.
        return await self.initialise_locations(dict.fromkeys(location_ids, ()), self._clock())

    async def initialise_locations(
        self, evses: Mapping[str, Sequence[str]], at: datetime
    ) -> dict[str, dict[str, EvseAvailability]]:
        found: dict[str, dict[str, EvseAvailability]] = {}
        ids = list(evses)
        for start in range(0, len(ids), PIPELINE_LOCATIONS):
            chunk = ids[start:start + PIPELINE_LOCATIONS]
            # Not transactional: a script per location, each in its location's slot (a
            # cluster pipeline sends each node its own). EVAL, not EVALSHA: a cluster
            # pipeline does not load a script the server lost.
            async with self._redis.pipeline(transaction=False) as pipe:
                for location_id in chunk:
                    k = _keys(location_id)
                    pipe.eval(scripts.READ_VIEW, len(_VIEW) + 1, *_view_keys(k),
                              _ms(at), *evses[location_id])
                answers = await pipe.execute()
            now_ms = _ms(self._clock())
            for location_id, hashes in zip(chunk, answers, strict=True):
                status, updated, holder, until, reserved = (
                    _pairs(flat) for flat in hashes[:len(_VIEW)])
                found[location_id] = {e.evse_uid: e for e in self._entries(
                    location_id, None, now_ms, status, updated, holder, until, reserved)}
        return found

    async def pick_and_hold(
        self,
        location_id: str,
        candidates: Sequence[str],
        *,
        holder: str,
        until: datetime,
        keep_free: int = 0,
    ) -> str | None:
        if self._run and not self._ready.is_set():
            raise AvailabilityRebuilding("availability is being rebuilt after a Redis restart")
        k = _keys(location_id)
        generation = self._generation
        picked: Any = await self._pick(
            keys=[k["status"], k["holder"], k["until"], k["reserved"], k["run"]],
            args=[_ms(self._clock()), holder, _ms(until), keep_free, self._run,
                  *candidates],
        )
        if picked is None:
            return None
        if picked == -1:
            raise self._not_rebuilt(location_id, generation)
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


