"""EVSEs an operator took out of service (ChangeAvailability Inoperative, accepted by the
charger), kept in the durable store so that they stay out across restarts, reconnections and
instances until the operator puts them back (Operative).

The charger's own reports are not enough: a charger that reboots, reconnects to another
instance or is replaced may report Available again, and a charger busy with a transaction
answers Scheduled and goes on reporting Charging. While marked, an EVSE is published
INOPERATIVE (unless a charging session is still on it, or the charger shows it broken or is
offline), is no candidate of the policy and no supply of the bookings' capacity.

Every instance keeps the marks in memory; the instance holding the charger writes them (it
applies the charger's answer), the others read them again at a charger's connection and
every ``refresh`` (the Locations extension runs it with the shared sync)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import structlog

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.availability.base import EvseStatus

log = structlog.get_logger(__name__)

COLLECTION = "evse_out_of_service"

EvseKey = tuple[str, str]
"""(location id, EVSE uid)."""

_KEPT = frozenset({EvseStatus.CHARGING, EvseStatus.OUTOFORDER, EvseStatus.UNKNOWN})
"""Charger views a mark does not hide: a session still on the EVSE (the charger scheduled
the change for its end), a fault, a charger offline: each is truer than INOPERATIVE."""


def _doc_key(key: EvseKey) -> str:
    return f"{key[0]}/{key[1]}"


def marked_status(charger_view: EvseStatus, out_of_service: bool) -> EvseStatus:
    """The EVSE's status with the operator's mark applied."""
    if out_of_service and charger_view not in _KEPT:
        return EvseStatus.INOPERATIVE
    return charger_view


class ServiceMarks:
    def __init__(self, store: DocumentStore | None = None) -> None:
        self.store = store
        self._out: set[EvseKey] = set()
        self.generation = 0
        """Moves on every change seen: caches built over the marks (policy candidates)
        compare it."""

    def is_out(self, location_id: str, evse_uid: str) -> bool:
        return (location_id, evse_uid) in self._out

    @property
    def out(self) -> frozenset[EvseKey]:
        return frozenset(self._out)

    async def set(self, keys: Iterable[EvseKey], *, out: bool, charge_point_id: str,
                  scheduled: bool = False) -> list[EvseKey]:
        """Mark (or unmark) EVSEs; the ones whose mark changed."""
        changed = []
        for key in keys:
            if out:
                if self.store is not None:
                    await self.store.put(COLLECTION, _doc_key(key), {
                        "location_id": key[0], "evse_uid": key[1],
                        "charge_point_id": charge_point_id, "scheduled": scheduled,
                        "since": datetime.now(UTC).isoformat()})
                if key not in self._out:
                    self._out.add(key)
                    changed.append(key)
            else:
                if self.store is not None:
                    await self.store.delete(COLLECTION, _doc_key(key))
                if key in self._out:
                    self._out.discard(key)
                    changed.append(key)
        if changed:
            self.generation += 1
            log.info("evse_service_marks_changed", out=out, charge_point_id=charge_point_id,
                     evses=[_doc_key(k) for k in changed])
        return changed

    async def refresh(self) -> list[EvseKey]:
        """Read every mark from the store (another instance may have written one); the
        EVSEs whose mark changed."""
        if self.store is None:
            return []
        docs = await self.store.find(COLLECTION)
        stored = {(str(d["location_id"]), str(d["evse_uid"])) for d in docs}
        changed = sorted(stored ^ self._out)
        if changed:
            self._out = stored
            self.generation += 1
        return changed
