"""In-process availability (the embedded default): one asyncio lock per location."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from ocpi_gateway.reservation_policy.availability.base import EvseAvailability, EvseStatus

HoldListener = Callable[[str, str], None]
"""Called with (location_id, evse_uid) after a hold is taken or released on this instance."""


def _now() -> datetime:
    return datetime.now(UTC)


def _held(entry: EvseAvailability, now: datetime) -> bool:
    return entry.holder is not None and (entry.hold_until is None or entry.hold_until > now)


def _free_beyond(entries: Iterable[EvseAvailability], count: int, now: datetime) -> bool:
    """More than ``count`` of ``entries`` are free."""
    free = 0
    for e in entries:
        if e.status is EvseStatus.AVAILABLE and not _held(e, now):
            free += 1
            if free > count:
                return True
    return False


class MemoryAvailability:
    def __init__(self, *, clock: Callable[[], datetime] = _now) -> None:
        self._clock = clock
        self._data: dict[str, dict[str, EvseAvailability]] = {}
        self._holds: dict[str, set[str]] = {}
        """Per location, the EVSEs whose entry names a holder (in force or past its end): a
        snapshot copies the location's entries and looks only at these, not at every EVSE."""
        self._locks: dict[str, asyncio.Lock] = {}
        self._listeners: list[HoldListener] = []

    def add_hold_listener(self, listener: HoldListener) -> None:
        self._listeners.append(listener)

    def _notify(self, location_id: str, evse_uid: str) -> None:
        for listener in self._listeners:
            listener(location_id, evse_uid)

    def _lock(self, location_id: str) -> asyncio.Lock:
        lock = self._locks.get(location_id)
        if lock is None:
            lock = self._locks[location_id] = asyncio.Lock()
        return lock

    async def set_status(
        self, location_id: str, evse_uid: str, status: EvseStatus, at: datetime
    ) -> bool:
        async with self._lock(location_id):
            evses = self._data.setdefault(location_id, {})
            current = evses.get(evse_uid)
            if current is None:
                evses[evse_uid] = EvseAvailability(location_id, evse_uid, status, at)
                return True
            if current.status is status:
                return False
            evses[evse_uid] = replace(current, status=status, updated_at=at)
            return True

    async def get(self, location_id: str, evse_uid: str) -> EvseAvailability | None:
        entry = self._data.get(location_id, {}).get(evse_uid)
        return _expire(entry, self._clock()) if entry else None

    async def location(self, location_id: str) -> dict[str, EvseAvailability]:
        return self._view(location_id)

    async def locations(self, location_ids: Sequence[str]
                        ) -> dict[str, dict[str, EvseAvailability]]:
        return {location_id: self._view(location_id) for location_id in location_ids}

    async def initialise_locations(
        self, evses: Mapping[str, Sequence[str]], at: datetime
    ) -> dict[str, dict[str, EvseAvailability]]:
        # No await from here to the return: atomic for every other coroutine, as a lock
        # would make it (set_status's lock is never held across an await either).
        found = {}
        for location_id, uids in evses.items():
            if uids:
                entries = self._data.setdefault(location_id, {})
                for uid in uids:
                    if uid not in entries:
                        entries[uid] = EvseAvailability(location_id, uid, EvseStatus.UNKNOWN,
                                                        at)
            found[location_id] = self._view(location_id)
        return found

    def _view(self, location_id: str) -> dict[str, EvseAvailability]:
        view = dict(self._data.get(location_id, {}))
        held = self._holds.get(location_id)
        if held:
            now = self._clock()
            for uid in held:
                view[uid] = _expire(view[uid], now)
        return view

    async def pick_and_hold(
        self,
        location_id: str,
        candidates: Sequence[str],
        *,
        holder: str,
        until: datetime,
        keep_free: int = 0,
    ) -> str | None:
        async with self._lock(location_id):
            now = self._clock()
            evses = self._data.get(location_id, {})
            # Holding one must leave keep_free free: more than keep_free free ones are needed
            # (with none to keep, the free candidate found below is enough), counted only as
            # far as that.
            if keep_free > 0 and not _free_beyond(evses.values(), keep_free, now):
                return None
            for uid in candidates:
                entry = evses.get(uid)
                if entry is None or entry.status is not EvseStatus.AVAILABLE or _held(entry, now):
                    continue
                evses[uid] = replace(entry, holder=holder, hold_until=until, last_reserved_at=now)
                self._holds.setdefault(location_id, set()).add(uid)
                self._notify(location_id, uid)
                return uid
            return None

    async def release(self, location_id: str, evse_uid: str, *, holder: str) -> bool:
        async with self._lock(location_id):
            entry = self._data.get(location_id, {}).get(evse_uid)
            if entry is None or entry.holder != holder:
                return False
            self._data[location_id][evse_uid] = replace(entry, holder=None, hold_until=None)
            self._holds[location_id].discard(evse_uid)
            self._notify(location_id, evse_uid)
            return True

    async def ping(self) -> bool:
        return True

    async def decision_view(self, location_id: str) -> dict[str, EvseAvailability]:
        return await self.location(location_id)

    @property
    def ready(self) -> bool:
        return True  # in-process: nothing to lose but the process itself

    async def wait_ready(self, timeout: float) -> bool:  # noqa: ASYNC109
        return True

    async def close(self) -> None:
        self._data.clear()
        self._holds.clear()


def _expire(entry: EvseAvailability, now: datetime) -> EvseAvailability:
    """A hold past its end is shown as no hold (the store never needs a sweeper)."""
    if entry.holder is not None and entry.hold_until is not None and entry.hold_until <= now:
        return replace(entry, holder=None, hold_until=None)
    return entry
