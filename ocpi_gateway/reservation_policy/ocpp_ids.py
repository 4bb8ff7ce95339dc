"""OCPP reservation ids: integers unique per charger, from a counter in the DocumentStore.

OCPI forbids sending the eMSP's reservation_id to the charger (one eMSP must not be able to
replace another's reservation), and OCPP wants an integer. A per-charger counter advanced with
compare-and-set stays unique across gateway instances and restarts.
"""

from __future__ import annotations

from ocpi_gateway.domain.store import DocumentStore

COLLECTION = "ocpp_reservation_ids"
MAX_ID = 2**31 - 1
"""OCPP integers are signed 32-bit; wrap before that (ids that old are long expired)."""


class OcppReservationIds:
    def __init__(self, store: DocumentStore, *, attempts: int = 50) -> None:
        self._store = store
        self._attempts = attempts

    async def next(self, charge_point_id: str) -> int:
        for _ in range(self._attempts):
            doc = await self._store.get(COLLECTION, charge_point_id)
            if doc is None:
                if await self._store.insert(COLLECTION, charge_point_id, {"last": 1}):
                    return 1
                continue
            last = int(doc["last"])
            nxt = last + 1 if last < MAX_ID else 1
            if await self._store.replace_if(COLLECTION, charge_point_id, {"last": nxt},
                                            expected={"last": last}):
                return nxt
        raise RuntimeError(f"could not allocate an OCPP reservation id for {charge_point_id}")
