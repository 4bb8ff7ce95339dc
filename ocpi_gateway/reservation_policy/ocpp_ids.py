"""OCPP reservation ids: integers unique per charger, from a counter in the DocumentStore.

OCPI forbids sending the eMSP's reservation_id to the charger (one eMSP must not be able to
replace another's reservation), and OCPP wants an integer. A per-charger counter advanced with
compare-and-set stays unique across gateway instances and restarts.

Each instance takes ``block`` ids at a time (one compare-and-set) and hands them out from
memory: 10,000 bookings bound in one minute read and wrote the counter for every binding.
The ids of a block not handed out when the instance stops are never used (a gap, as a wrap
makes one).
"""

from __future__ import annotations

from ocpi_gateway.domain.store import DocumentStore

COLLECTION = "ocpp_reservation_ids"
MAX_ID = 2**31 - 1
"""OCPP integers are signed 32-bit; wrap before that (ids that old are long expired)."""
BLOCK = 16
"""Ids taken from the counter at a time."""


class OcppReservationIds:
    def __init__(self, store: DocumentStore, *, attempts: int = 50, block: int = BLOCK
                 ) -> None:
        self._store = store
        self._attempts = attempts
        self._block = block
        self._left: dict[str, tuple[int, int]] = {}
        """Per charger, the ids of its block not handed out yet: [next, last]."""

    async def next(self, charge_point_id: str) -> int:
        left = self._left.get(charge_point_id)
        if left is None:
            left = await self._take(charge_point_id)
        nxt, last = left
        if nxt < last:
            self._left[charge_point_id] = (nxt + 1, last)
        else:
            self._left.pop(charge_point_id, None)
        return nxt

    async def _take(self, charge_point_id: str) -> tuple[int, int]:
        """A new block [first, last] from the stored counter (``last`` stored)."""
        for _ in range(self._attempts):
            doc = await self._store.get(COLLECTION, charge_point_id)
            if doc is None:
                if await self._store.insert(COLLECTION, charge_point_id,
                                            {"last": self._block}):
                    return 1, self._block
                continue
            last = int(doc["last"])
            first = last + 1 if last + self._block <= MAX_ID else 1
            end = first + self._block - 1
            if await self._store.replace_if(COLLECTION, charge_point_id, {"last": end},
                                            expected={"last": last}):
                return first, end
        raise RuntimeError(f"could not allocate an OCPP reservation id for {charge_point_id}")
