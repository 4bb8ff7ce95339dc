"""The per-eMSP cap on live reservations, enforced atomically across gateway instances.

Counting live reservations and then creating one lets two concurrent requests both pass the
count. Instead a reservation claims one of ``cap`` numbered slots with the DocumentStore's
atomic insert, or compare-and-set on a freed slot (owner ""); a slot whose reservation is no
longer live (a crash between the end of a reservation and the slot's release) is taken over
the same way. Live reservations also count against the cap (see the engine), which keeps the
cap right when an operator lowers it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ocpi_gateway.domain.store import DocumentStore

COLLECTION = "partner_reservation_slots"

IsLive = Callable[[str], Awaitable[bool]]
"""Whether the reservation with that key is still live."""


class PartnerCap:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    @staticmethod
    def _key(partner_key: str, slot: int) -> str:
        return f"{partner_key}#{slot}"

    async def claim(self, partner_key: str, reservation_key: str, cap: int,
                    is_live: IsLive) -> int | None:
        """The slot claimed for ``reservation_key``, or None when ``cap`` live ones exist."""
        doc = {"reservation_key": reservation_key, "partner_key": partner_key}
        # Fast paths first: one query finds the partner's slots, so a claim costs two or three
        # store calls rather than one per slot (a cap of 20 made that the slowest step of a
        # RESERVE_NOW).
        existing = {int(d["slot"]): d for d in await self._store.find(
            COLLECTION, {"partner_key": partner_key}) if "slot" in d and int(d["slot"]) < cap}
        for slot, current in sorted(existing.items()):
            if current["reservation_key"] == "" and await self._store.replace_if(
                    COLLECTION, self._key(partner_key, slot), {**doc, "slot": slot},
                    expected={"reservation_key": ""}):
                return slot
        for slot in range(cap):
            if slot not in existing and await self._store.insert(
                    COLLECTION, self._key(partner_key, slot), {**doc, "slot": slot}):
                return slot
        # Every slot exists and is taken: take over one whose reservation is no longer live.
        for slot in range(cap):
            key = self._key(partner_key, slot)
            stored = await self._store.get(COLLECTION, key)
            if stored is None:
                if await self._store.insert(COLLECTION, key, {**doc, "slot": slot}):
                    return slot
                continue
            owner = str(stored["reservation_key"])
            if owner and owner != reservation_key and await is_live(owner):
                continue
            if await self._store.replace_if(COLLECTION, key, {**doc, "slot": slot},
                                            expected={"reservation_key": owner}):
                return slot
        return None

    async def release(self, partner_key: str, slot: int, reservation_key: str) -> bool:
        # Compare-and-set, so that only the owner frees a slot (never one taken over since).
        return await self._store.replace_if(
            COLLECTION, self._key(partner_key, slot),
            {"reservation_key": "", "partner_key": partner_key, "slot": slot},
            expected={"reservation_key": reservation_key})
